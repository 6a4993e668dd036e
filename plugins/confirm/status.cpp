// What the confirmer says about itself: each domain's probe state after a round (for
// `stsctl status`, see checks.h for the fields) and the metrics (README "Metrics").
#include "confirmer.h"

#include "outcome_json.h"

namespace stsd::confirm {

using std::chrono::seconds;

void ConfirmEngine::publish_status(const std::string& domain, const Watch& watch, const store::DomainStatus& status,
                                   const RoundVerdict& verdict, const RoundInput& input) {
  const auto& settings = runtime()->settings;
  const Phase phase = phase_of(watch, verdict, input);
  nlohmann::json vantages = nlohmann::json::array();
  for (const auto& outcome : input.outcomes) vantages.push_back(outcome_json(outcome));
  nlohmann::json json = {
      {"domain", domain},
      {"phase", std::string(phase_name(phase))},
      {"summary", summary_of(watch, verdict, input)},
      {"target_version", input.pending ? nlohmann::json(*input.pending) : nlohmann::json(nullptr)},
      {"confirmed_version", input.confirmed ? nlohmann::json(*input.confirmed) : nlohmann::json(nullptr)},
      {"streak", watch.tracker.streak()},
      {"needed", settings.probes},
      {"soak_seconds", settings.soak.count()},
      {"streak_started_at", time_or_null(watch.tracker.streak_started())},
      {"last_round_at", time_or_null(watch.last_round_at)},
      {"next_round_at", time_or_null(watch.next_round_at)},
      {"consecutive_failures", watch.tracker.consecutive_failures()},
      {"setup_error", input.setup_error ? nlohmann::json(*input.setup_error) : nlohmann::json(nullptr)},
      {"drift", verdict.drift ? nlohmann::json(verdict.drift_reason) : nlohmann::json(nullptr)},
      {"hold", status.hold && !verdict.confirm ? nlohmann::json(status.hold->reason) : nlohmann::json(nullptr)},
      {"vantages", vantages},
  };
  if (verdict.drift && watch.held_by_us) json["hold"] = verdict.drift_reason;
  if (!verdict.drift && !input.outcomes.empty()) json["hold"] = nullptr;
  status_board_.set(domain, std::move(json), phase, verdict.failed);
}

Phase ConfirmEngine::phase_of(const Watch& watch, const RoundVerdict& verdict, const RoundInput& input) {
  if (verdict.drift)
    return watch.held_by_us ? Phase::Held
                            : (watch.override_fingerprint.empty() ? Phase::Drift : Phase::DriftOverridden);
  if (verdict.confirm) return Phase::Confirmed;
  if (input.pending) return Phase::Pending;
  return Phase::Watching;
}

std::string ConfirmEngine::summary_of(const Watch& watch, const RoundVerdict& verdict, const RoundInput& input) const {
  std::string summary = verdict.summary;
  if (!watch.override_fingerprint.empty() && verdict.drift)
    summary += "; the hold was released by an operator, so the id rotates anyway";
  else if (verdict.drift && watch.held_by_us)
    summary += "; id rotation held until every vantage serves version " + std::to_string(*input.confirmed) + " again";
  if (watch.next_round_at && !verdict.confirm)
    summary += "; next probe in " + describe_duration(std::chrono::ceil<seconds>(*watch.next_round_at - now()));
  return summary;
}

std::optional<nlohmann::json> ConfirmEngine::probe_status(const std::string& domain) {
  std::string key = domain;
  try {
    key = store::normalize_domain(domain);
  } catch (const std::exception&) {}
  return status_board_.find(key);
}

void ConfirmEngine::count_probes(const std::vector<VantageOutcome>& outcomes, bool pending) {
  for (const auto& outcome : outcomes) {
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
  status_board_.write_metrics(writer);
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
  writer.counter("stsd_confirm_confirmations_total", "Versions confirmed automatically by the confirmer.", {},
                 static_cast<double>(confirmations_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_drift_events_total", "Drifts detected that held a domain's id rotation.", {},
                 static_cast<double>(drift_events_.load(std::memory_order_relaxed)));
}

}  // namespace stsd::confirm
