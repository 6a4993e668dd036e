#pragma once
// Removes the records of retired domains once their removal time has passed (RFC 8461
// §8.3, store/retirement.h), through PolicyStore::remove_retired: one atomic write, event
// "removed" with detail "retired". Times are the store's clock (`store.clock()`), so a
// test clock moves them.
//
// One thread. Every `tick` it compares the store's clock with the removal times it knows;
// it reads them again (the short list of retiring domains, not the store) after every
// change to what the store serves and at least every `rescan`. The first round runs as
// soon as it starts.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/retirement.h"

namespace stsd {
class Environment;
}

namespace stsd::store {

class PolicyStore;

class RetirementSweeper {
 public:
  struct Timing {
    std::chrono::milliseconds tick{1000};
    std::chrono::seconds rescan{60};
  };

  explicit RetirementSweeper(std::shared_ptr<PolicyStore> store, Timing timing);
  explicit RetirementSweeper(std::shared_ptr<PolicyStore> store) : RetirementSweeper(std::move(store), Timing{}) {}
  ~RetirementSweeper();  // stops the thread
  RetirementSweeper(const RetirementSweeper&) = delete;
  RetirementSweeper& operator=(const RetirementSweeper&) = delete;

  void start();
  void stop();
  // One round on the caller's thread (the thread's, or a test's; never both): removes
  // what is due and returns those domains. May throw StoreError.
  std::vector<std::string> sweep();

  // The process's sweeper of the process-wide store, started on the first call and
  // stopped when the environment goes (before the store closes: it holds the store).
  static void start_for(Environment& env, std::shared_ptr<PolicyStore> store);

 private:
  void run();

  const std::shared_ptr<PolicyStore> store_;
  const Timing timing_;
  std::vector<ScheduledRemoval> known_;
  std::optional<uint64_t> scanned_generation_;  // the store's generation at the last scan
  std::chrono::steady_clock::time_point next_scan_{};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace stsd::store
