#pragma once
// The NOTIFY rate limit: `rate` messages per second on average, at most a tenth of a
// second's worth at once, so that a burst of changes never floods a secondary. A send
// may overdraw by the few targets of one zone; the next waits until the debt is paid.
#include <algorithm>
#include <chrono>

namespace stsd::transfer {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TokenBucket(Clock::time_point now = Clock::now()) : refilled_(now) {}

  void configure(unsigned rate) {
    rate_ = std::max(1u, rate);
    burst_ = std::max(1.0, rate_ / 10.0);
    tokens_ = std::min(tokens_, burst_);
  }
  void refill(Clock::time_point now) {
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    if (elapsed <= 0) return;
    refilled_ = now;
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  }
  bool ready() const { return tokens_ >= 1; }
  void spend() { tokens_ -= 1; }
  // When ready() will hold, without other spending.
  Clock::time_point ready_at(Clock::time_point now) const {
    if (ready()) return now;
    return now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>((1 - tokens_) / rate_));
  }

 private:
  double rate_ = 1;
  double burst_ = 1;
  double tokens_ = 1;
  Clock::time_point refilled_;
};

}  // namespace stsd::transfer
