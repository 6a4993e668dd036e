// What the confirmer says about itself: each domain's probe state after a round (for
// `stsctl status`, see checks.h for the fields), the domain's next rotation or why its
// id is held, and the metrics (README "Metrics").
#include "confirmer.h"

#include <cstdio>

#include "join.h"
#include "outcome_json.h"

namespace stsd::confirm {

using std::chrono::seconds;

namespace {

TimePoint from_unix(int64_t unix) { return TimePoint(seconds(unix)); }
TimePoint from_ms(int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

// "5:12:07" into the period: how an operator finds the domain's rotation on a clock.
std::string clock_offset(int64_t offset) {
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(offset / 3600),
                static_cast<long long>(offset / 60 % 60), static_cast<long long>(offset % 60));
  return text;
}

// A clean round (every vantage served the confirmed version) is kept as its VantageMemo
// only; this is its status again.
nlohmann::json clean_round_json(const std::string& domain, const Watch& watch, const ConfirmSettings& settings) {
  nlohmann::json vantages = nlohmann::json::array();
  uint32_t confirmed = 0;
  for (const auto& memo : watch.vantages) {
    confirmed = memo.version;
    const std::string label = memo.label();
    vantages.push_back(
        {{"vantage", memo.vantage().to_string()},
         {"label", label},
         {"served", served_name(memo.served)},
         {"version", memo.version},
         {"error", ""},
         {"words", label + " serves version " + std::to_string(memo.version)},
         {"certificate_not_after",
          memo.certificate_not_after != 0 ? nlohmann::json(memo.certificate_not_after) : nlohmann::json(nullptr)},
         {"elapsed_ms", 0}});
  }
  const size_t count = watch.vantages.size();
  return {{"domain", domain},
          {"phase", std::string(phase_name(watch.phase))},
          {"summary", "confirmed version " + std::to_string(confirmed) + " is served by all " + std::to_string(count) +
                          " vantage" + (count == 1 ? "" : "s")},
          {"target_version", nullptr},
          {"confirmed_version", confirmed},
          {"streak", 0},
          {"needed", settings.probes},
          {"soak_seconds", settings.soak.count()},
          {"streak_started_at", nullptr},
          {"consecutive_failures", 0},
          {"setup_error", nullptr},
          {"drift", nullptr},
          {"hold", nullptr},
          {"vantages", vantages}};
}

}  // namespace

void ConfirmEngine::publish_round(WatchTable::Entry& entry, const RotationState& rotation, const RoundVerdict& verdict,
                                  const RoundInput& input, const Evidence& evidence) {
  const std::string& domain = entry.first;
  Trouble& trouble = *entry.second.trouble;
  const Phase phase = phase_of(trouble, verdict, input);
  const bool clean = !input.pending && !verdict.failed && !verdict.drift && !trouble.held_by_us &&
                     trouble.override_fingerprint.empty() && evidence.verified && !rotation.held;
  nlohmann::json json;
  if (!clean) json = round_json(domain, trouble, phase, verdict, input);
  std::vector<VantageMemo> memos;
  memos.reserve(input.outcomes.size());
  for (const auto& outcome : input.outcomes) {
    auto memo = VantageMemo::of(outcome.endpoint, outcome.label.rfind("edge ", 0) == 0);
    memo.served = outcome.served;
    memo.version = outcome.version;
    memo.etag_version = outcome.etag_version;
    if (outcome.etag_version != 0) memo.etag = outcome.etag;
    if (outcome.certificate_not_after) memo.certificate_not_after = store::unix_seconds(*outcome.certificate_not_after);
    memos.push_back(std::move(memo));
  }
  table_.update(entry, [&](Watch& watch) {
    watch.phase = phase;
    watch.failing = verdict.failed;
    watch.last_round_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(input.started.time_since_epoch()).count();
    watch.vantages = std::move(memos);
    if (clean) {
      watch.trouble.reset();  // a clean history is what a fresh Trouble amounts to
    } else {
      watch.trouble->status = std::move(json);
      watch.trouble->outcomes = input.outcomes;
      watch.trouble->setup_error = input.setup_error;
    }
  });
  std::optional<HeldRotation> held;
  if (rotation.held) {
    held = HeldRotation{rotation.held_since, evidence.vantage, evidence.reason, evidence.detail};
    if (evidence.verified) held->words = "waiting for the store to take the evidence of the last round";
  }
  table_.set_rotation_held(domain, std::move(held));
}

nlohmann::json ConfirmEngine::round_json(const std::string& domain, const Trouble& trouble, Phase phase,
                                         const RoundVerdict& verdict, const RoundInput& input) const {
  const auto& settings = runtime()->settings;
  nlohmann::json vantages = nlohmann::json::array();
  for (const auto& outcome : input.outcomes) vantages.push_back(outcome_json(outcome));
  nlohmann::json json = {
      {"domain", domain},
      {"phase", std::string(phase_name(phase))},
      {"summary", summary_of(trouble, verdict, input)},
      {"target_version", input.pending ? nlohmann::json(*input.pending) : nlohmann::json(nullptr)},
      {"confirmed_version", input.confirmed ? nlohmann::json(*input.confirmed) : nlohmann::json(nullptr)},
      {"streak", trouble.tracker.streak()},
      {"needed", settings.probes},
      {"soak_seconds", settings.soak.count()},
      {"streak_started_at", time_or_null(trouble.tracker.streak_started())},
      {"consecutive_failures", trouble.tracker.consecutive_failures()},
      {"setup_error", input.setup_error ? nlohmann::json(*input.setup_error) : nlohmann::json(nullptr)},
      {"drift", verdict.drift ? nlohmann::json(verdict.drift_reason) : nlohmann::json(nullptr)},
      {"hold", nullptr},
      {"vantages", vantages},
  };
  if (verdict.drift && trouble.held_by_us) json["hold"] = verdict.drift_reason;
  return json;
}

Phase ConfirmEngine::phase_of(const Trouble& trouble, const RoundVerdict& verdict, const RoundInput& input) {
  if (verdict.drift)
    return trouble.held_by_us ? Phase::Held
                              : (trouble.override_fingerprint.empty() ? Phase::Drift : Phase::DriftOverridden);
  if (verdict.confirm) return Phase::Confirmed;
  if (input.pending) return Phase::Pending;
  return Phase::Watching;
}

std::string ConfirmEngine::summary_of(const Trouble& trouble, const RoundVerdict& verdict,
                                      const RoundInput& input) const {
  std::string summary = verdict.summary;
  if (!trouble.override_fingerprint.empty() && verdict.drift)
    summary +=
        "; the drift hold was released by an operator, but the id still moves only once every vantage serves "
        "version " +
        std::to_string(*input.confirmed);
  else if (verdict.drift && trouble.held_by_us)
    summary += "; id rotation held until every vantage serves version " + std::to_string(*input.confirmed) + " again";
  return summary;
}

std::optional<nlohmann::json> ConfirmEngine::probe_status(const std::string& domain) {
  std::string key = domain;
  try {
    key = store::normalize_domain(domain);
  } catch (const std::exception&) {}
  const auto settings = runtime()->settings;
  const TimePoint checked = now();
  auto json = table_.read(key, [&](const Watch* watch) -> std::optional<nlohmann::json> {
    if (!watch) return std::nullopt;
    nlohmann::json out;
    if (watch->last_round_ms == 0)
      out = {{"domain", key}, {"phase", nullptr}, {"summary", "not probed yet"}, {"vantages", nlohmann::json::array()}};
    else if (watch->trouble && !watch->trouble->status.is_null())
      out = watch->trouble->status;
    else
      out = clean_round_json(key, *watch, settings);
    out["last_round_at"] = watch->last_round_ms ? nlohmann::json(watch->last_round_ms / 1000) : nlohmann::json(nullptr);
    out["next_round_at"] = watch->due_ms / 1000;
    if (!watch->in_flight && watch->due_ms > 0) {
      const auto left = std::chrono::ceil<seconds>(from_ms(watch->due_ms) - checked);
      out["summary"] = out["summary"].get<std::string>() +
                       (left.count() > 0 ? "; next probe in " + describe_duration(left) : "; next probe now");
    }
    return out;
  });
  if (!json) return std::nullopt;
  add_rotation(*json, key, checked);
  nlohmann::json lines = nlohmann::json::array();
  lines.push_back((*json)["summary"]);
  for (const auto& vantage : (*json)["vantages"]) lines.push_back(vantage["words"]);
  for (const auto& line : (*json)["rotation"]["lines"]) lines.push_back(line);
  (*json)["lines"] = lines;
  return json;
}

std::vector<std::string> ConfirmEngine::confirm_problems(const std::string& domain, uint32_t version) {
  std::string key = domain;
  try {
    key = store::normalize_domain(domain);
  } catch (const std::exception&) {}
  return table_.read(key, [&](const Watch* watch) {
    std::vector<std::string> problems;
    if (!watch || watch->last_round_ms == 0) return problems;  // nothing seen contradicts it
    const std::string seen = " (seen by the probe round at " + format_utc(from_ms(watch->last_round_ms), true) + ")";
    if (watch->trouble && !watch->trouble->status.is_null()) {
      for (const auto& outcome : watch->trouble->outcomes) {
        const bool known =
            outcome.served == Served::Staged || outcome.served == Served::Confirmed || outcome.served == Served::Older;
        if (!known || outcome.version != version) problems.push_back(served_words(outcome) + seen);
      }
    } else {
      for (const auto& memo : watch->vantages)
        if (memo.version != version)
          problems.push_back(memo.label() + " serves version " + std::to_string(memo.version) + seen);
    }
    return problems;
  });
}

void ConfirmEngine::add_rotation(nlohmann::json& json, const std::string& domain, TimePoint checked) const {
  // What the store says about the id's next move, with the confirmer's words for a hold.
  std::optional<store::DomainStatus> status;
  try {
    status = state_->status(domain, store::unix_seconds(checked));
  } catch (const std::exception&) {}
  nlohmann::json rotation = {{"lines", nlohmann::json::array()}};
  if (!status || !status->confirmed) {
    json["rotation"] = rotation;
    return;
  }
  const RotationState state = rotation_state_of(domain, *status);
  rotation["next_at"] = state.next_boundary;
  rotation["offset_seconds"] = state.offset;
  rotation["evidence_until"] = status->rotate_until ? nlohmann::json(*status->rotate_until) : nlohmann::json(nullptr);
  rotation["held"] = state.held;
  rotation["lines"].push_back("next rotation at " + format_utc(from_unix(state.next_boundary), true) +
                              " (this domain's offset: " + clock_offset(state.offset) + " into every " +
                              describe_duration(state_->rotation()) + ")" +
                              (status->hold ? "; the id does not move while the drift hold is set" : ""));
  if (state.held) {
    const auto held = table_.rotation_held(domain);
    rotation["held_since"] = state.held_since;
    rotation["held_vantage"] = held ? nlohmann::json(held->vantage) : nlohmann::json(nullptr);
    rotation["held_reason"] = held ? nlohmann::json(held->reason) : nlohmann::json(nullptr);
    rotation["lines"].push_back(rotation_held_words(domain, *status));
  }
  json["rotation"] = rotation;
}

ConfirmEngine::RotationState ConfirmEngine::rotation_state_of(const std::string& domain,
                                                              const store::DomainStatus& status) const {
  return rotation_state(store::rotation_hash(domain), status.rotate_until);
}

std::string ConfirmEngine::rotation_held_words(const std::string& domain, const store::DomainStatus& status) const {
  if (!status.confirmed) return "";
  const RotationState state = rotation_state_of(domain, status);
  if (!state.held) return "";
  const auto held = table_.rotation_held(domain);
  return "rotation held since " + format_utc(from_unix(state.held_since), true) + ": " +
         (held ? held->words
               : "waiting for a round in which every vantage serves version " +
                     std::to_string(status.confirmed->number));
}

void ConfirmEngine::count_probes(const std::vector<VantageOutcome>& outcomes, bool pending) {
  for (const auto& outcome : outcomes) {
    if (outcome.not_modified) probes_not_modified_.fetch_add(1, std::memory_order_relaxed);
    switch (outcome.served) {
      case Served::Staged:
        probes_match_.fetch_add(1, std::memory_order_relaxed);
        break;
      case Served::Confirmed:
        // While a version is pending, the confirmed one is the old file still served.
        (pending ? probes_mismatch_ : probes_match_).fetch_add(1, std::memory_order_relaxed);
        break;
      case Served::Older:
      case Served::Other:
      case Served::Unparsable:
        probes_mismatch_.fetch_add(1, std::memory_order_relaxed);
        break;
      case Served::Error:
        probes_error_.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
}

void ConfirmEngine::collect_metrics(metrics::MetricsWriter& writer) const {
  table_.write_metrics(writer);
  const int64_t last = last_round_unix_ms_.load(std::memory_order_relaxed);
  if (last != 0)
    writer.gauge("stsd_confirm_last_probe_timestamp_seconds", "When the last probe round finished (Unix time).", {},
                 static_cast<double>(last) / 1000.0);
  static constexpr const char* kProbesHelp =
      "Policy fetches by result: match (the version expected), mismatch (another file), error (no usable answer).";
  writer.counter("stsd_confirm_probes_total", kProbesHelp, {{"result", "match"}},
                 static_cast<double>(probes_match_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_probes_total", kProbesHelp, {{"result", "mismatch"}},
                 static_cast<double>(probes_mismatch_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_probes_total", kProbesHelp, {{"result", "error"}},
                 static_cast<double>(probes_error_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_probes_not_modified_total",
                 "Fetches answered 304 Not Modified to the ETag recorded with a checked body (counted in "
                 "stsd_confirm_probes_total too).",
                 {}, static_cast<double>(probes_not_modified_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_confirmations_total", "Versions confirmed automatically by the confirmer.", {},
                 static_cast<double>(confirmations_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_drift_events_total", "Drifts detected that held a domain's id rotation.", {},
                 static_cast<double>(drift_events_.load(std::memory_order_relaxed)));
  static constexpr const char* kEvidenceHelp =
      "Rounds of a confirmed version reported to the store as evidence for the next id change: verified (every "
      "vantage served exactly the confirmed version) or unverified (the id stays where it is).";
  writer.counter("stsd_confirm_rotation_evidence_total", kEvidenceHelp, {{"result", "verified"}},
                 static_cast<double>(evidence_verified_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_rotation_evidence_total", kEvidenceHelp, {{"result", "unverified"}},
                 static_cast<double>(evidence_unverified_.load(std::memory_order_relaxed)));
}

}  // namespace stsd::confirm
