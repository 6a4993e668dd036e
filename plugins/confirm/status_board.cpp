#include "status_board.h"

#include <algorithm>
#include <vector>

namespace stsd::confirm {

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::Pending:
      return "pending";
    case Phase::Confirmed:
      return "confirmed";
    case Phase::Watching:
      return "watching";
    case Phase::Held:
      return "held";
    case Phase::Drift:
      return "drift";
    case Phase::DriftOverridden:
      return "drift-overridden";
  }
  return "unknown";
}

void StatusBoard::set(const std::string& domain, nlohmann::json status, Phase phase, bool failing) {
  std::lock_guard lock(mutex_);
  status_[domain] = std::move(status);
  auto [it, inserted] = phases_.try_emplace(domain, PhaseEntry{phase, failing});
  if (!inserted) {
    --phase_counts_[static_cast<size_t>(it->second.phase)];
    failing_count_ -= it->second.failing;
    if (it->second.phase == Phase::Held && phase != Phase::Held) held_.erase(domain);
    it->second = PhaseEntry{phase, failing};
  }
  ++phase_counts_[static_cast<size_t>(phase)];
  failing_count_ += failing;
  if (phase == Phase::Held) held_.insert(domain);
}

void StatusBoard::forget(const std::string& domain) {
  std::lock_guard lock(mutex_);
  status_.erase(domain);
  auto it = phases_.find(domain);
  if (it == phases_.end()) return;
  --phase_counts_[static_cast<size_t>(it->second.phase)];
  failing_count_ -= it->second.failing;
  held_.erase(domain);
  phases_.erase(it);
}

std::optional<nlohmann::json> StatusBoard::find(const std::string& domain) const {
  std::lock_guard lock(mutex_);
  auto it = status_.find(domain);
  if (it == status_.end()) return std::nullopt;
  return it->second;
}

void StatusBoard::write_metrics(metrics::MetricsWriter& writer) const {
  std::array<size_t, kPhaseCount> counts{};
  size_t failing = 0;
  std::vector<std::string> held;
  {
    std::lock_guard lock(mutex_);
    counts = phase_counts_;
    failing = failing_count_;
    held.assign(held_.begin(), held_.end());
  }
  for (size_t i = 0; i < kPhaseCount; ++i) {
    std::string state(phase_name(static_cast<Phase>(i)));
    std::replace(state.begin(), state.end(), '-', '_');
    writer.gauge("stsd_confirm_domains",
                 "Domains by the phase of their last probe round (as `stsctl status` shows it; "
                 "domains not probed yet are not counted).",
                 {{"state", state}}, static_cast<double>(counts[i]));
  }
  writer.gauge("stsd_confirm_failing_domains", "Domains whose last probe round failed (fetch error or wrong policy).",
               {}, static_cast<double>(failing));
  static constexpr const char* kHeldHelp =
      "1 for each domain whose id rotation is held because a vantage serves neither the confirmed nor the staged "
      "policy (drift); domains not held are not listed.";
  writer.declare("stsd_confirm_drift_held", kHeldHelp, metrics::Type::Gauge);
  for (const auto& domain : held) writer.gauge("stsd_confirm_drift_held", kHeldHelp, {{"domain", domain}}, 1);
}

}  // namespace stsd::confirm
