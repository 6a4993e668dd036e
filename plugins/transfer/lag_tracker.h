#pragma once
// How far behind a secondary is: the time between a zone's change and the moment the
// secondary was seen holding it (docs/secondaries.md: a lagging secondary serves the
// previous MTA-STS id, so `stsctl check` adds the worst lag to "safe to add MX from").
//
// A secondary that reports serial S at time T (it asks for an IXFR from S, or a transfer
// of S to it ended) shows two facts: every change up to S that it did not hold before
// reached it by T, and every change after S announced before T has not reached it yet.
// Its lag is T minus the oldest change in either set. Not thread-safe (the Notifier
// locks); every table is bounded, so a stream of zones or addresses cannot grow memory.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "dns/name.h"
#include "wire_records.h"  // serial_after (RFC 1982)

namespace stsd::transfer {

struct LagLimits {
  size_t zones = 1 << 20;       // zones whose recent changes are remembered
  size_t changes_per_zone = 8;  // recent serials remembered per zone
  size_t holdings = 1 << 20;    // (secondary, zone) pairs whose serial is remembered
  size_t secondaries = 64;      // secondaries with a metric of their own; others share "other"
};

class LagTracker {
 public:
  explicit LagTracker(LagLimits limits = {}) : limits_(limits) {}

  // `apex` changed to `serial` at `at` (Unix seconds).
  void announced(const dns::Name& apex, uint32_t serial, int64_t at);
  // `secondary` holds `serial` of `apex` at `at`: the lag this shows, in seconds (never
  // negative), or nullopt when no remembered change bears on it.
  std::optional<int64_t> secondary_has(const boost::asio::ip::address& secondary, const dns::Name& apex,
                                       uint32_t serial, int64_t at);

  // The last lag seen per secondary ("other" for those beyond the limit), by address text.
  const std::map<std::string, int64_t>& last_lag_by_secondary() const { return last_lag_; }
  size_t zones_remembered() const { return changes_.size(); }
  size_t holdings_remembered() const { return holdings_.size(); }

 private:
  struct Change {
    uint32_t serial;
    int64_t at;
  };
  static std::string zone_key(const dns::Name& apex);
  void remember_holding(const std::string& key, uint32_t serial);
  void record_last_lag(const boost::asio::ip::address& secondary, int64_t lag);

  LagLimits limits_;
  std::unordered_map<std::string, std::vector<Change>> changes_;  // oldest change first
  std::deque<std::string> zone_order_;                            // keys of changes_, first seen first
  std::unordered_map<std::string, uint32_t> holdings_;            // address bytes + zone key
  std::map<std::string, int64_t> last_lag_;
};

}  // namespace stsd::transfer
