#pragma once
// The zones waiting to be announced by NOTIFY, oldest first. A zone appears once, at its
// newest serial (a secondary that is told about serial 7 transfers 7, so announcing 6
// first is useless); beyond the limit the oldest entry is dropped, since an import of
// 100,000 domains must not grow memory without bound and a secondary still catches up
// through its SOA refresh timer (RFC 1996 §3.11 keeps NOTIFY an optimisation).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "dns/name.h"

namespace stsd::transfer {

struct QueuedZone {
  dns::Name apex;
  uint32_t serial = 0;
};

class NotifyQueue {
 public:
  explicit NotifyQueue(size_t limit) : limit_(limit == 0 ? 1 : limit) {}

  // Queues `apex` at `serial`, or moves its queued entry to `serial` (keeping its place).
  // Returns how many of the oldest entries were dropped to stay within the limit.
  size_t push(const dns::Name& apex, uint32_t serial);
  std::optional<QueuedZone> pop();
  size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }
  // A new limit applies from the next push; what is queued stays queued.
  void set_limit(size_t limit) { limit_ = limit == 0 ? 1 : limit; }

 private:
  // Wire form as the key: a dns::Name is 258 octets, a burst may queue a million zones.
  static std::string key_of(const dns::Name& apex);

  size_t limit_;
  std::deque<std::string> order_;                     // each queued key once, oldest first
  std::unordered_map<std::string, uint32_t> serial_;  // exactly the keys of order_
};

}  // namespace stsd::transfer
