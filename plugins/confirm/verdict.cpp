// Acting on a round's verdict: confirm the pending version, write a failure to the event
// log once, hold or release the id for drift (README "Why drift holds the id"), and
// report the round to the store as evidence for the next id change (README "Verified id
// changes").
#include "confirmer.h"

#include "logging.h"

namespace stsd::confirm {

void ConfirmEngine::apply_verdict(const std::string& domain, Trouble& trouble, const store::DomainStatus& status,
                                  const RoundVerdict& verdict, const RoundInput& input, const Evidence& evidence) {
  const bool confirmed_now =
      verdict.confirm && input.pending && confirm_if_still_staged(domain, trouble, verdict, input);
  record_failure_once(domain, trouble, verdict, input);
  // Drift watch: hold the id while the confirmed version is not what is served.
  const bool held = status.hold.has_value();
  if (verdict.drift && input.confirmed)
    hold_while_drifting(domain, trouble, held, verdict, *input.confirmed);
  else
    release_hold_after_drift(domain, trouble, held, verdict, input);
  // A confirmation carries its own evidence; otherwise every round of a confirmed version
  // is evidence for or against the next id change.
  if (!confirmed_now && input.confirmed) report_evidence(domain, input, evidence);
}

bool ConfirmEngine::confirm_if_still_staged(const std::string& domain, const Trouble& trouble,
                                            const RoundVerdict& verdict, const RoundInput& input) {
  // Confirm only the version that was probed: if another was staged meanwhile, the
  // next round starts over for it.
  const uint32_t pending = *input.pending;
  auto served = state_->served(domain);
  if (!served || !served->staged || served->staged->number != pending) return false;
  // The confirming round is also the evidence that lets the id move now.
  const int64_t evidence_until = store::unix_seconds(input.started) + runtime()->settings.verify_window.count();
  state_->confirm(domain, pending, false,
                  "served by every vantage on " + std::to_string(trouble.tracker.streak()) + " consecutive rounds",
                  verdict.confirm_detail, evidence_until);
  confirmations_.fetch_add(1, std::memory_order_relaxed);
  log::info("confirm: " + domain + ": " + verdict.confirm_detail + "; confirmed");
  return true;
}

void ConfirmEngine::report_evidence(const std::string& domain, const RoundInput& input, const Evidence& evidence) {
  store::RotationEvidence report{*input.confirmed, evidence.verified, store::unix_seconds(input.started),
                                 runtime()->settings.verify_window, evidence.detail};
  const store::EvidenceResult result = state_->record_rotation_evidence(domain, report);
  (evidence.verified ? evidence_verified_ : evidence_unverified_).fetch_add(1, std::memory_order_relaxed);
  if (result.id_changed)
    log::info("confirm: " + domain + ": " + evidence.detail + "; the id moves to the current period");
}

void ConfirmEngine::record_failure_once(const std::string& domain, Trouble& trouble, const RoundVerdict& verdict,
                                        const RoundInput& input) {
  // A failing pending version is written to the event log once per distinct failure,
  // not once per round.
  if (input.pending && verdict.failed) {
    std::string fingerprint = input.setup_error ? "setup" : "";
    for (const auto& outcome : input.outcomes)
      if (outcome.served == Served::Error || outcome.served == Served::Other || outcome.served == Served::Unparsable)
        fingerprint += outcome.vantage + "=" + outcome.fingerprint + ",";
    if (fingerprint != trouble.failure_fingerprint) {
      state_->record_event(domain, "probe_failed", *input.pending, verdict.summary);
      trouble.failure_fingerprint = fingerprint;
    }
  } else if (!verdict.failed) {
    trouble.failure_fingerprint.clear();
  }
}

void ConfirmEngine::hold_while_drifting(const std::string& domain, Trouble& trouble, bool held,
                                        const RoundVerdict& verdict, uint32_t confirmed) {
  const std::string fingerprint = std::to_string(confirmed) + "|" + verdict.drift_fingerprint;
  if (held) {
    trouble.held_by_us = true;  // also adopts a hold set before a restart
    trouble.held_for_version = confirmed;
  } else if (trouble.held_by_us && trouble.held_for_version == confirmed) {
    // We held it, and the hold is gone while the drift persists: an operator released
    // it. Respect that until what is served changes (the id still waits for evidence).
    trouble.held_by_us = false;
    trouble.override_fingerprint = fingerprint;
    state_->record_event(domain, "drift_override", confirmed,
                         "hold released by an operator while drift persists; not held again until what is "
                         "served changes: " +
                             verdict.drift_reason);
  } else if (fingerprint != trouble.override_fingerprint) {
    state_->record_event(domain, "drift", confirmed, verdict.drift_reason);
    state_->set_hold(domain, verdict.drift_reason);
    drift_events_.fetch_add(1, std::memory_order_relaxed);
    trouble.held_by_us = true;
    trouble.held_for_version = confirmed;
    log::warn("confirm: " + domain + ": " + verdict.drift_reason + "; id rotation held");
  }
  table_.set_drift_held(domain, trouble.held_by_us);
}

void ConfirmEngine::release_hold_after_drift(const std::string& domain, Trouble& trouble, bool held,
                                             const RoundVerdict& verdict, const RoundInput& input) {
  trouble.override_fingerprint.clear();
  if (held && input.confirmed && !verdict.confirm && !input.setup_error && !input.outcomes.empty()) {
    state_->set_hold(domain, std::nullopt);
    log::info("confirm: " + domain + ": version " + std::to_string(*input.confirmed) +
              " is served everywhere again; the drift hold is released");
  }
  trouble.held_by_us = false;
  table_.set_drift_held(domain, false);
}

}  // namespace stsd::confirm
