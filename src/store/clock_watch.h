#pragma once
// Watches the clock for the store's time (store/time_floor.h): once a second it renews the
// time lease when due, and notices the clock stepping back behind the time already used.
// A step back is logged when it starts and when the clock has caught up again, and shown
// in the metrics:
//   stsd_clock_behind_seconds     how far the clock is behind the highest reading seen
//                                 (0 normally; ids and SOA serials are held meanwhile)
//   stsd_clock_steps_back_total   steps back seen since start (a restart behind the
//                                 lease's reading counts)
//   stsd_time_lease_failures_total  lease writes the store refused
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "metrics.h"

namespace stsd {
class Environment;
}

namespace stsd::store {

class PolicyStore;

class ClockWatch {
 public:
  explicit ClockWatch(std::shared_ptr<PolicyStore> store, std::chrono::milliseconds tick = std::chrono::seconds(1));
  ~ClockWatch();  // stops the thread
  ClockWatch(const ClockWatch&) = delete;
  ClockWatch& operator=(const ClockWatch&) = delete;

  void start();
  void stop();
  // One look at the clock on the caller's thread (the thread's, or a test's; never both).
  void check();

  // The process's watch over the process-wide store, started on the first call, with its
  // metrics; stopped when the environment goes.
  static void start_for(Environment& env, std::shared_ptr<PolicyStore> store);

 private:
  void run();

  const std::shared_ptr<PolicyStore> store_;
  const std::chrono::milliseconds tick_;
  std::chrono::steady_clock::time_point next_failure_log_{};
  std::atomic<uint64_t> lease_failures_seen_{0};
  metrics::MetricsRegistry::Registration metrics_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace stsd::store
