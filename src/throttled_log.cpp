#include "throttled_log.h"

#include <algorithm>

#include "logging.h"

namespace stsd::log {

void ThrottledLog::report(const std::string& text) {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (refilled_ != std::chrono::steady_clock::time_point{}) {
    const std::chrono::duration<double> elapsed = now - refilled_;
    tokens_ = std::min(kBurst, tokens_ + elapsed.count() * kPerSecond);
  }
  refilled_ = now;
  if (tokens_ < 1) {
    ++suppressed_;
    return;
  }
  tokens_ -= 1;
  std::string line = text;
  if (suppressed_) line += " (" + std::to_string(suppressed_) + " similar lines left out)";
  suppressed_ = 0;
  warn(line);
}

}  // namespace stsd::log
