#pragma once
// Log lines for events a client can repeat at will (failed handshakes, refused
// connections, failed accepts): a burst of 20, then 2 per second, with a count of what
// was left out, so that no client can flood the log.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace stsd::log {

class ThrottledLog {
 public:
  // Logs `text` as a warning unless the budget is spent.
  void report(const std::string& text);

 private:
  static constexpr double kBurst = 20;
  static constexpr double kPerSecond = 2;
  std::mutex mutex_;
  double tokens_ = kBurst;
  std::chrono::steady_clock::time_point refilled_{};
  uint64_t suppressed_ = 0;
};

}  // namespace stsd::log
