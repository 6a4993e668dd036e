#include "store/retirement_sweeper.h"

#include "environment.h"
#include "logging.h"
#include "store/policy_store.h"
#include "utc_time.h"

namespace stsd::store {

RetirementSweeper::RetirementSweeper(std::shared_ptr<PolicyStore> store, Timing timing)
    : store_(std::move(store)), timing_(timing) {}

RetirementSweeper::~RetirementSweeper() { stop(); }

void RetirementSweeper::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void RetirementSweeper::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> RetirementSweeper::sweep() {
  const auto steady_now = std::chrono::steady_clock::now();
  // The generation is read before the scan: a change during the scan brings another.
  const uint64_t generation = store_->generation();
  if (scanned_generation_ != generation || steady_now >= next_scan_) {
    known_ = store_->scheduled_removals();
    scanned_generation_ = generation;
    next_scan_ = steady_now + timing_.rescan;
  }
  std::vector<std::string> removed;
  const int64_t now = store_->now();
  for (const auto& due : known_) {
    if (due.at > now || !store_->remove_retired(due.domain)) continue;
    log::f(log::Level::Info, "mtasts: %s retired: its records are removed (every cached policy expired at %s)",
           due.domain.c_str(), iso8601(due.at).c_str());
    removed.push_back(due.domain);
  }
  return removed;
}

void RetirementSweeper::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto wait = timing_.tick;
    lock.unlock();
    try {
      sweep();
    } catch (const std::exception& e) {
      // A store that fails now is tried again at the next rescan, not every tick.
      log::f(log::Level::Error, "mtasts: retirement sweep failed: %s", e.what());
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(timing_.rescan);
    }
    lock.lock();
    wake_.wait_for(lock, wait, [this] { return stopping_; });
  }
}

void RetirementSweeper::start_for(Environment& env, std::shared_ptr<PolicyStore> store) {
  env.shared<RetirementSweeper>("store.retirement_sweeper", [&] {
    auto sweeper = std::make_shared<RetirementSweeper>(std::move(store));
    sweeper->start();
    return sweeper;
  });
}

}  // namespace stsd::store
