#include "tracker.h"

#include <algorithm>

#include "join.h"

namespace stsd::confirm {

std::string_view served_name(Served served) {
  switch (served) {
    case Served::Staged:
      return "staged";
    case Served::Confirmed:
      return "confirmed";
    case Served::Older:
      return "older";
    case Served::Other:
      return "other";
    case Served::Unparsable:
      return "unparsable";
    case Served::Error:
      return "error";
  }
  return "error";
}

namespace {

std::chrono::seconds whole_seconds(TimePoint::duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d);
}

}  // namespace

std::chrono::seconds DomainTracker::backoff_delay(std::chrono::seconds base) const {
  // Doubles per consecutive failed round, capped; never shorter than the base interval.
  const auto cap = std::max(settings_.max_backoff, base);
  auto delay = base;
  for (uint32_t i = 0; i < failures_ && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

RoundVerdict DomainTracker::record(const RoundInput& round) {
  RoundVerdict verdict;
  std::vector<std::string> names;
  for (const auto& outcome : round.outcomes) names.push_back(outcome.vantage);
  std::sort(names.begin(), names.end());
  const std::string vantage_set = join(names, ",");

  bool failed = round.setup_error.has_value() || round.outcomes.empty();
  for (const auto& outcome : round.outcomes)
    if (outcome.served == Served::Error || outcome.served == Served::Other || outcome.served == Served::Unparsable)
      failed = true;

  // Drift watch: only a confirmed version can drift.
  if (round.confirmed) {
    std::vector<std::string> reasons, fingerprints;
    if (round.setup_error) {
      reasons.push_back(*round.setup_error);
      fingerprints.push_back("setup");
    } else if (round.outcomes.empty()) {
      reasons.push_back("no vantage to probe");
      fingerprints.push_back("no-vantage");
    }
    for (const auto& outcome : round.outcomes) {
      if (outcome.served == Served::Confirmed || outcome.served == Served::Staged) continue;
      reasons.push_back(outcome.words);
      fingerprints.push_back(outcome.vantage + "=" + outcome.fingerprint);
    }
    if (!reasons.empty()) {
      verdict.drift = true;
      verdict.drift_reason =
          "version " + std::to_string(*round.confirmed) + " is no longer served everywhere: " + join(reasons, "; ");
      verdict.drift_fingerprint = join(fingerprints, ",");
    }
  }

  if (round.pending) {
    const uint32_t pending = *round.pending;
    if (target_ != pending || vantage_set_ != vantage_set) {
      // A new version, or a different set of vantages: nothing seen so far counts.
      target_ = pending;
      vantage_set_ = vantage_set;
      streak_ = 0;
      streak_started_.reset();
    }
    const bool all_staged = !failed && std::all_of(round.outcomes.begin(), round.outcomes.end(),
                                                   [](const auto& o) { return o.served == Served::Staged; });
    const std::string version = "version " + std::to_string(pending);
    if (all_staged) {
      if (streak_ == 0) streak_started_ = round.at;
      ++streak_;
      const auto span = whole_seconds(round.at - *streak_started_);
      std::vector<std::string> labels;
      for (const auto& outcome : round.outcomes) labels.push_back(outcome.label);
      if (streak_ >= settings_.probes && span >= settings_.soak) {
        verdict.confirm = true;
        verdict.confirm_detail = version + " served by every vantage (" + join(labels, ", ") + ") on " +
                                 std::to_string(streak_) + " consecutive rounds from " +
                                 format_utc(*streak_started_, true) + " to " + format_utc(round.at, true) + " (" +
                                 describe_duration(span) + ")";
        verdict.summary = "confirmed " + verdict.confirm_detail;
      } else {
        std::string needs;
        if (streak_ < settings_.probes)
          needs =
              std::to_string(settings_.probes - streak_) + " more round" + (settings_.probes - streak_ == 1 ? "" : "s");
        if (span < settings_.soak) {
          if (!needs.empty()) needs += " and ";
          needs += "the soak time (" + describe_duration(settings_.soak - span) + " more)";
        }
        verdict.summary = version + " served by all " + std::to_string(round.outcomes.size()) + " vantage" +
                          (round.outcomes.size() == 1 ? "" : "s") + " on " + std::to_string(streak_) +
                          " consecutive round" + (streak_ == 1 ? "" : "s") + " over " + describe_duration(span) +
                          "; needs " + needs + " before it is confirmed";
      }
    } else {
      streak_ = 0;
      streak_started_.reset();
      std::vector<std::string> problems;
      if (round.setup_error)
        problems.push_back(*round.setup_error);
      else if (round.outcomes.empty())
        problems.push_back("no vantage to probe");
      for (const auto& outcome : round.outcomes)
        if (outcome.served != Served::Staged) problems.push_back(outcome.words);
      verdict.summary = "waiting for " + version + ": " + join(problems, "; ");
    }
  } else {
    target_.reset();
    vantage_set_.clear();
    streak_ = 0;
    streak_started_.reset();
    if (round.confirmed) {
      verdict.summary = verdict.drift ? "drift: " + verdict.drift_reason
                                      : "confirmed version " + std::to_string(*round.confirmed) + " is served by all " +
                                            std::to_string(round.outcomes.size()) + " vantage" +
                                            (round.outcomes.size() == 1 ? "" : "s");
    } else {
      verdict.summary = "nothing staged or confirmed";
    }
  }

  failures_ = failed ? failures_ + 1 : 0;
  verdict.failed = failed;
  if (verdict.confirm)
    verdict.next_delay = settings_.drift_interval;
  else if (round.pending)
    verdict.next_delay = failed ? backoff_delay(settings_.interval) : settings_.interval;
  else if (verdict.drift)
    verdict.next_delay = backoff_delay(settings_.interval);  // see when it heals
  else
    verdict.next_delay = settings_.drift_interval;
  return verdict;
}

}  // namespace stsd::confirm
