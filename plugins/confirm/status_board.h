#pragma once
// The confirmer's last word on each domain: the probe state `stsctl status` shows
// (ConfirmApi::probe_status) and, kept beside it, the phase counts /metrics exports.
// Written by the prober's thread after each round, read by the admin thread and by
// scrapes; one mutex, held briefly and never during network I/O.
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "metrics.h"

namespace stsd::confirm {

// The phase of a domain's last round, as `stsctl status` shows it.
enum class Phase : uint8_t { Pending, Confirmed, Watching, Held, Drift, DriftOverridden };
inline constexpr size_t kPhaseCount = 6;
std::string_view phase_name(Phase phase);  // "pending", ..., "drift-overridden"

class StatusBoard {
 public:
  void set(const std::string& domain, nlohmann::json status, Phase phase, bool failing);
  void forget(const std::string& domain);
  // nullopt when the domain has not been probed yet.
  std::optional<nlohmann::json> find(const std::string& domain) const;

  // stsd_confirm_domains (per phase), stsd_confirm_failing_domains and
  // stsd_confirm_drift_held (only the held domains, so a provider with a million domains
  // exports a handful of lines).
  void write_metrics(metrics::MetricsWriter& writer) const;

 private:
  struct PhaseEntry {
    Phase phase;
    bool failing;
  };

  mutable std::mutex mutex_;
  std::unordered_map<std::string, nlohmann::json> status_;
  // Counts per phase are updated as phases change, so a scrape does not walk every domain.
  std::unordered_map<std::string, PhaseEntry> phases_;
  std::array<size_t, kPhaseCount> phase_counts_{};
  size_t failing_count_ = 0;
  std::set<std::string> held_;  // domains in Phase::Held
};

}  // namespace stsd::confirm
