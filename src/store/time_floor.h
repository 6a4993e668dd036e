#pragma once
// The store's time: wall-clock seconds that never fall behind a time already used.
//
// Everything DNS derives from time comes from here: the ids (the rotation period containing
// the effective time), the SOA serials (the service zone's is the current second; a
// delegated zone's is the start of its current period or its last change) and the change
// stamps every write records. A clock stepped back (NTP correcting a wrong clock, a VM
// restored from a snapshot) would move them back: a secondary ignores a zone whose serial
// went back (RFC 1982 §3.2, RFC 1996 §4.7), and an id that goes back is an id change, so
// senders would re-fetch for nothing. Instead the time stands still until the clock passes
// the last time used: the serials and the ids are held, logged and shown in the metrics.
//
// Across restarts the floor is kept as a lease: a time persisted ahead of the wall clock
// (mtasts/time_floor, renewed while less than kRenewWithin remains). After any restart,
// even after a crash followed by a step back, the floor starts at the lease, so nothing
// used before can be ahead of it; the price is that the store's time may run up to
// kLeaseAhead ahead of the clock for that long after a restart. While the lease cannot be
// written (the store refuses writes), the floor still holds within the process.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stsd::store {

class TimeFloor {
 public:
  static constexpr int64_t kLeaseAhead = 30;
  static constexpr int64_t kRenewWithin = 20;
  // A reading this far behind the highest one seen is a step back, not jitter.
  static constexpr int64_t kStepTolerance = 2;

  struct Lease {
    int64_t seen = 0;   // the highest clock reading when the lease was written
    int64_t until = 0;  // no time used before a restart is later than this
  };
  static std::string encode(const Lease& lease);
  // nullopt when `text` is not "<seen> <until>" with seen <= until.
  static std::optional<Lease> decode(std::string_view text);

  TimeFloor() noexcept : TimeFloor(Lease{0, 0}) {}
  explicit TimeFloor(Lease saved) noexcept;

  // The time to use for the wall-clock reading `wall`: max(wall, every time used so far).
  // The DNS path's: one relaxed load, and a compare-exchange only when the second changed.
  int64_t hold(int64_t wall) noexcept {
    int64_t floor = floor_.load(std::memory_order_relaxed);
    while (wall > floor)
      if (floor_.compare_exchange_weak(floor, wall, std::memory_order_relaxed)) return wall;
    return floor;
  }
  int64_t floor() const noexcept { return floor_.load(std::memory_order_relaxed); }

  // The lease to persist now (nullopt: the current one is far enough ahead).
  std::optional<Lease> renewal(int64_t wall) const noexcept;
  void renewed(const Lease& lease) noexcept { lease_until_.store(lease.until, std::memory_order_relaxed); }
  int64_t lease_until() const noexcept { return lease_until_.load(std::memory_order_relaxed); }

  // The watcher's view of one wall-clock reading: how far the clock is behind the highest
  // reading seen (0 when it is not), and whether this reading starts a new step back.
  struct Observation {
    int64_t behind = 0;
    bool step_started = false;
  };
  Observation observe(int64_t wall) noexcept;
  uint64_t steps_back() const noexcept { return steps_back_.load(std::memory_order_relaxed); }
  int64_t behind() const noexcept { return behind_.load(std::memory_order_relaxed); }

 private:
  const int64_t start_floor_;
  std::atomic<int64_t> floor_;
  std::atomic<int64_t> lease_until_;
  std::atomic<int64_t> highest_seen_;
  std::atomic<int64_t> behind_{0};
  std::atomic<uint64_t> steps_back_{0};
};

}  // namespace stsd::store
