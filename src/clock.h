#pragma once
// Wall-clock time behind an interface, so that tests can move time (id rotation).
#include <atomic>
#include <chrono>

namespace stsd {

class Clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
};

// A clock tests set and advance by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = {}) : now_(start.time_since_epoch().count()) {}
  time_point now() const override { return time_point(time_point::duration(now_.load(std::memory_order_acquire))); }
  void set(time_point t) { now_.store(t.time_since_epoch().count(), std::memory_order_release); }
  void advance(std::chrono::system_clock::duration d) { now_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<time_point::rep> now_;
};

}  // namespace stsd
