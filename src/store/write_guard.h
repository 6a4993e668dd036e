#pragma once
// The write side of the store's fault model (README.md, "Faults"): whether a write may go
// to RocksDB now, what a failed one leaves behind (nothing: it is refused before the
// served index changes), and the recovery that makes writes possible again without a
// restart.
//
// * Before a commit, a write is refused (StoreUnavailable) while the store is failed (a
//   write or a background job failed, or it opened read-only), or while its file system
//   has less free space than the minimum (storage_min_free_mib): refusing before the disk
//   is full keeps RocksDB away from the error paths it handles worst.
// * Once failed, no write reaches RocksDB until the store recovered: a write after a
//   failed WAL append is what tripped RocksDB's assertion (issue 12).
// * Recovery reopens the database (Database::reopen; RocksDB's Resume() for a database
//   the caller keeps open) when there is room again, at 1, 2, 4 ... 30 s intervals (every
//   second while it waits for space): by the first write after the time has come, or by a
//   thread of its own, so that writes, /v1/server and the metrics come back by themselves.
//   The served index is kept: it never saw the refused writes.
// * Damage the background checksum verification found (Database::checksums()) refuses
//   every write until stsd restarts, whatever else happens: it does not heal, and no
//   reopen is tried for it.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "store/policy_id.h"
#include "store/records.h"

namespace rocksdb {
class WriteBatch;
}

namespace stsd {
class Clock;
namespace metrics {
class MetricsWriter;
}
}  // namespace stsd

namespace stsd::store {

class Database;
class Disk;

class WriteGuard {
 public:
  // `writer_mutex`: the store's writer lock, held by every write and every recovery.
  WriteGuard(Database& database, std::mutex& writer_mutex, std::shared_ptr<Clock> clock);
  ~WriteGuard();
  WriteGuard(const WriteGuard&) = delete;
  WriteGuard& operator=(const WriteGuard&) = delete;
  // Stops the recovery thread (waits for an attempt in progress); the destructor does too.
  void stop();

  // Under the writer lock, before a commit: throws StoreUnavailable when writes are
  // refused now (a failed store tries to recover first when an attempt is due).
  void admit();
  // Under the writer lock: commits `batch` (synced). A failure is recorded (every write is
  // refused until the store recovered) and thrown as StoreUnavailable; nothing was written.
  void commit(const Disk& disk, rocksdb::WriteBatch& batch);

  StoreHealth health() const;
  // Called on the recovery thread, without locks, each time writes became possible again
  // (e.g. to do what a start on a read-only store had to put off).
  void set_on_recovered(std::function<void()> callback);

 private:
  bool failed() const;
  void fail(const std::string& reason);
  // Under the writer lock: reopens (or resumes) when there is room; true when writable.
  bool try_recover();
  // `outlook`: whether writes come back by themselves (empty: the reason says).
  [[noreturn]] void refuse(const std::string& reason, std::string_view outlook);
  // Why writes stay refused until a restart: the damage the checksum verification found
  // (Database::checksums()); empty when none. No recovery clears it.
  std::string damage_found() const;
  void check_free_space();
  void ensure_recovery_thread();
  void recovery_loop();

  Database& database_;
  std::mutex& writer_mutex_;
  std::shared_ptr<Clock> clock_;

  mutable std::mutex state_mutex_;  // the fields below, up to the counters
  std::string failure_;             // why writes are refused until recovery; empty: not failed
  int64_t failed_since_ = 0;
  std::string last_retry_;  // what stood in the way at the last recovery attempt
  bool low_space_ = false;  // the last write saw less free space than the minimum
  std::chrono::steady_clock::time_point next_attempt_{};  // of recovery
  std::chrono::seconds backoff_{1};
  std::function<void()> on_recovered_;
  bool recovered_unannounced_ = false;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread recovery_thread_;

  std::atomic<uint64_t> failed_writes_{0};
  std::atomic<uint64_t> refused_writes_{0};
  std::atomic<uint64_t> recoveries_{0};
};

// The stsd_store_* metrics (README.md, "Faults") from a health report.
void write_health_metrics(const StoreHealth& health, metrics::MetricsWriter& writer);

}  // namespace stsd::store
