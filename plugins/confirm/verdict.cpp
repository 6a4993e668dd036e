// Acting on a round's verdict: confirm the pending version, write a failure to the event
// log once, and hold or release the id for drift (README "Why drift holds the id").
#include "confirmer.h"

#include "logging.h"

namespace stsd::confirm {

void ConfirmEngine::apply_verdict(const std::string& domain, Watch& watch, const store::DomainStatus& status,
                                  const RoundVerdict& verdict, const RoundInput& input) {
  if (verdict.confirm && input.pending) confirm_if_still_staged(domain, watch, verdict, *input.pending);
  record_failure_once(domain, watch, verdict, input);
  // Drift watch: hold the id while the confirmed version is not what is served.
  const bool held = status.hold.has_value();
  if (verdict.drift && input.confirmed)
    hold_while_drifting(domain, watch, held, verdict, *input.confirmed);
  else
    release_hold_after_drift(domain, watch, held, verdict, input);
}

void ConfirmEngine::confirm_if_still_staged(const std::string& domain, const Watch& watch, const RoundVerdict& verdict,
                                            uint32_t pending) {
  // Confirm only the version that was probed: if another was staged meanwhile, the
  // next round starts over for it.
  auto served = state_->served(domain);
  if (!served || !served->staged || served->staged->number != pending) return;
  state_->confirm(domain, pending, false,
                  "served by every vantage on " + std::to_string(watch.tracker.streak()) + " consecutive rounds",
                  verdict.confirm_detail);
  confirmations_.fetch_add(1, std::memory_order_relaxed);
  log::info("confirm: " + domain + ": " + verdict.confirm_detail + "; confirmed");
}

void ConfirmEngine::record_failure_once(const std::string& domain, Watch& watch, const RoundVerdict& verdict,
                                        const RoundInput& input) {
  // A failing pending version is written to the event log once per distinct failure,
  // not once per round.
  if (input.pending && verdict.failed) {
    std::string fingerprint = input.setup_error ? "setup" : "";
    for (const auto& outcome : input.outcomes)
      if (outcome.served == Served::Error || outcome.served == Served::Other || outcome.served == Served::Unparsable)
        fingerprint += outcome.vantage + "=" + outcome.fingerprint + ",";
    if (fingerprint != watch.failure_fingerprint) {
      state_->record_event(domain, "probe_failed", *input.pending, verdict.summary);
      watch.failure_fingerprint = fingerprint;
    }
  } else if (!verdict.failed) {
    watch.failure_fingerprint.clear();
  }
}

void ConfirmEngine::hold_while_drifting(const std::string& domain, Watch& watch, bool held, const RoundVerdict& verdict,
                                        uint32_t confirmed) {
  const std::string fingerprint = std::to_string(confirmed) + "|" + verdict.drift_fingerprint;
  if (held) {
    watch.held_by_us = true;  // also adopts a hold set before a restart
    watch.held_for_version = confirmed;
  } else if (watch.held_by_us && watch.held_for_version == confirmed) {
    // We held it, and the hold is gone while the drift persists: an operator released
    // it. Respect that until what is served changes.
    watch.held_by_us = false;
    watch.override_fingerprint = fingerprint;
    state_->record_event(domain, "drift_override", confirmed,
                         "hold released by an operator while drift persists; not held again until what is "
                         "served changes: " +
                             verdict.drift_reason);
  } else if (fingerprint != watch.override_fingerprint) {
    state_->record_event(domain, "drift", confirmed, verdict.drift_reason);
    state_->set_hold(domain, verdict.drift_reason);
    drift_events_.fetch_add(1, std::memory_order_relaxed);
    watch.held_by_us = true;
    watch.held_for_version = confirmed;
    log::warn("confirm: " + domain + ": " + verdict.drift_reason + "; id rotation held");
  }
}

void ConfirmEngine::release_hold_after_drift(const std::string& domain, Watch& watch, bool held,
                                             const RoundVerdict& verdict, const RoundInput& input) {
  watch.override_fingerprint.clear();
  if (held && input.confirmed && !verdict.confirm && !input.setup_error && !input.outcomes.empty()) {
    state_->set_hold(domain, std::nullopt);
    log::info("confirm: " + domain + ": version " + std::to_string(*input.confirmed) +
              " is served everywhere again; id rotation resumes");
  }
  watch.held_by_us = false;
}

}  // namespace stsd::confirm
