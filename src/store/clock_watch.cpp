#include "store/clock_watch.h"

#include "environment.h"
#include "logging.h"
#include "store/policy_store.h"
#include "utc_time.h"

namespace stsd::store {

ClockWatch::ClockWatch(std::shared_ptr<PolicyStore> store, std::chrono::milliseconds tick)
    : store_(std::move(store)), tick_(tick) {}

ClockWatch::~ClockWatch() { stop(); }

void ClockWatch::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void ClockWatch::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ClockWatch::check() {
  const int64_t wall = unix_seconds(store_->clock().now());
  const int64_t held = store_->now();
  const int64_t behind_before = store_->time_floor().behind();
  const auto seen = store_->time_floor().observe(wall);
  if (seen.step_started)
    log::f(log::Level::Warning,
           "mtasts: the clock stepped back %lld s (it reads %s; %s was used already): ids and SOA serials are "
           "held until it passes that time",
           static_cast<long long>(seen.behind), iso8601(wall).c_str(), iso8601(held).c_str());
  else if (behind_before > 0 && seen.behind == 0)
    log::f(log::Level::Info, "mtasts: the clock caught up with the time already used (%s): ids and serials move again",
           iso8601(held).c_str());
  try {
    store_->renew_time_floor();
  } catch (const std::exception& e) {
    lease_failures_seen_.fetch_add(1, std::memory_order_relaxed);
    // The store refusing writes is reported by the write path; one line a minute here.
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_failure_log_) {
      next_failure_log_ = now + std::chrono::minutes(1);
      log::f(log::Level::Warning,
             "mtasts: the time lease cannot be written (%s): serials and ids stay monotonic while stsd runs, but "
             "a restart after a clock step back may not know the time already used",
             e.what());
    }
  }
}

void ClockWatch::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    check();
    lock.lock();
    wake_.wait_for(lock, tick_, [this] { return stopping_; });
  }
}

void ClockWatch::start_for(Environment& env, std::shared_ptr<PolicyStore> store) {
  env.shared<ClockWatch>("store.clock_watch", [&] {
    auto watch = std::make_shared<ClockWatch>(std::move(store));
    watch->metrics_ = metrics::metrics_registry(env)->add("clock watch", [w = watch.get()](metrics::MetricsWriter& out) {
      const TimeFloor& floor = w->store_->time_floor();
      out.gauge("stsd_clock_behind_seconds",
                "How far the clock is behind the latest time already used; ids and SOA serials are held while > 0.",
                {}, static_cast<double>(floor.behind()));
      out.counter("stsd_clock_steps_back_total", "Steps back of the clock seen since start.", {},
                  static_cast<double>(floor.steps_back()));
      out.counter("stsd_time_lease_failures_total", "Writes of the time lease the store refused.", {},
                  static_cast<double>(w->lease_failures_seen_.load(std::memory_order_relaxed)));
    });
    watch->start();
    return watch;
  });
}

}  // namespace stsd::store
