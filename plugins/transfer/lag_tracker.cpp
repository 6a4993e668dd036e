#include "lag_tracker.h"

#include <algorithm>

namespace stsd::transfer {

std::string LagTracker::zone_key(const dns::Name& apex) {
  const auto wire = apex.lowered().wire();
  return {reinterpret_cast<const char*>(wire.data()), wire.size()};
}

void LagTracker::announced(const dns::Name& apex, uint32_t serial, int64_t at) {
  std::string key = zone_key(apex);
  auto it = changes_.find(key);
  if (it == changes_.end()) {
    while (!zone_order_.empty() && changes_.size() >= limits_.zones) {
      changes_.erase(zone_order_.front());
      zone_order_.pop_front();
    }
    zone_order_.push_back(key);
    it = changes_.emplace(std::move(key), std::vector<Change>{}).first;
  }
  auto& changes = it->second;
  // The same serial announced again (a reload, a repeated change report) keeps the time
  // it first appeared: that is when secondaries could first have fetched it.
  for (const auto& change : changes)
    if (change.serial == serial) return;
  if (changes.size() >= std::max<size_t>(limits_.changes_per_zone, 1)) changes.erase(changes.begin());
  changes.push_back({serial, at});
}

std::optional<int64_t> LagTracker::secondary_has(const boost::asio::ip::address& secondary, const dns::Name& apex,
                                                 uint32_t serial, int64_t at) {
  const std::string zone = zone_key(apex);
  std::string holding_key = secondary.to_string() + '/' + zone;
  std::optional<uint32_t> held_before;
  if (auto it = holdings_.find(holding_key); it != holdings_.end()) held_before = it->second;
  remember_holding(holding_key, held_before && serial_after(*held_before, serial) ? *held_before : serial);

  auto it = changes_.find(zone);
  if (it == changes_.end()) return std::nullopt;
  std::optional<int64_t> oldest;
  auto consider = [&oldest](int64_t change_at) { oldest = oldest ? std::min(*oldest, change_at) : change_at; };
  for (const auto& change : it->second) {
    const bool held = change.serial == serial || serial_after(serial, change.serial);
    if (held) {
      // Newly held: what it did not have at its previous report. Without one, the serial
      // it names: a transfer that just ended is the usual first report, and when it is
      // not, the lag comes out too long, the safe mistake for "safe to add MX from".
      const bool new_to_it = held_before ? serial_after(change.serial, *held_before) : change.serial == serial;
      if (new_to_it) consider(change.at);
    } else if (change.at <= at) {
      consider(change.at);  // announced, and still missing
    }
  }
  if (!oldest) return std::nullopt;
  const int64_t lag = std::max<int64_t>(0, at - *oldest);
  record_last_lag(secondary, lag);
  return lag;
}

void LagTracker::remember_holding(const std::string& key, uint32_t serial) {
  auto it = holdings_.find(key);
  if (it != holdings_.end()) {
    it->second = serial;
    return;
  }
  // Full: forget an arbitrary pair. It only makes that pair's next report count its
  // named serial alone, which is still a true lag.
  if (holdings_.size() >= std::max<size_t>(limits_.holdings, 1)) holdings_.erase(holdings_.begin());
  holdings_.emplace(key, serial);
}

void LagTracker::record_last_lag(const boost::asio::ip::address& secondary, int64_t lag) {
  std::string name = secondary.to_string();
  if (!last_lag_.contains(name) && last_lag_.size() >= limits_.secondaries) name = "other";
  last_lag_[name] = lag;
}

}  // namespace stsd::transfer
