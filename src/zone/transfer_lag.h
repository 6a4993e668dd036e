#pragma once
// The worst delay seen between a change and a secondary serving it: what a sender may
// see beyond the TTL when it asks a lagging secondary (docs/secondaries.md). The part of
// stsd that feeds secondaries records it; `stsctl check` adds it to "safe to add MX
// from". Shared through Environment::shared under kSharedKey; lock-free.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace stsd::zone {

class TransferLag {
 public:
  static constexpr const char* kSharedKey = "transfer_lag";

  // A secondary was seen serving (asking for, or holding) a serial `lag` after the change.
  void observe(std::chrono::seconds lag) noexcept {
    int64_t seen = worst_.load(std::memory_order_relaxed);
    while (lag.count() > seen && !worst_.compare_exchange_weak(seen, lag.count(), std::memory_order_relaxed)) {
    }
    observed_.store(true, std::memory_order_release);
  }
  // The worst lag since start; nullopt before any secondary was seen.
  std::optional<std::chrono::seconds> worst() const noexcept {
    if (!observed_.load(std::memory_order_acquire)) return std::nullopt;
    return std::chrono::seconds(worst_.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<int64_t> worst_{0};
  std::atomic<bool> observed_{false};
};

}  // namespace stsd::zone
