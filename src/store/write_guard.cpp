#include "store/write_guard.h"

#include <algorithm>

#include <rocksdb/db.h>

#include "clock.h"
#include "logging.h"
#include "metrics.h"
#include "store/database.h"
#include "store/disk.h"
#include "store/errors.h"

namespace stsd::store {

namespace {

using steady = std::chrono::steady_clock;

// What a refused write is told about when writes come back.
constexpr std::string_view kResumesByItself = "DNS keeps answering; writes resume by themselves once this is fixed";

constexpr std::chrono::seconds kLongestBackoff{30};
// A reopen writes a new MANIFEST and WAL and flushes what the old WAL held: it is not
// tried with less room than this, even with storage_min_free_mib 0.
constexpr uint64_t kRoomToRecover = uint64_t{1} << 20;

}  // namespace

WriteGuard::WriteGuard(Database& database, std::mutex& writer_mutex, std::shared_ptr<Clock> clock)
    : database_(database), writer_mutex_(writer_mutex), clock_(std::move(clock)) {
  if (database_.read_only()) {
    // Database::open said so loudly already; the store only starts trying to recover.
    std::lock_guard lock(state_mutex_);
    failure_ = "the store was opened read-only: " + database_.read_only_reason();
    failed_since_ = unix_seconds(clock_->now());
    next_attempt_ = steady::now() + backoff_;
  }
  if (failed()) ensure_recovery_thread();
}

WriteGuard::~WriteGuard() { stop(); }

void WriteGuard::stop() {
  {
    std::lock_guard lock(state_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (recovery_thread_.joinable()) recovery_thread_.join();
}

void WriteGuard::set_on_recovered(std::function<void()> callback) {
  std::lock_guard lock(state_mutex_);
  on_recovered_ = std::move(callback);
}

bool WriteGuard::failed() const {
  std::lock_guard lock(state_mutex_);
  return !failure_.empty();
}

// ---- a write ---------------------------------------------------------------------------

void WriteGuard::admit() {
  if (auto damage = damage_found(); !damage.empty()) refuse(damage, {});  // it says what to do
  if (!failed()) {
    if (auto error = database_.background_error(); !error.empty())
      fail("RocksDB stopped writes after a background error: " + error);
  }
  std::string failure;
  bool may_try;
  {
    std::lock_guard lock(state_mutex_);
    failure = failure_;
    may_try = steady::now() >= next_attempt_;
  }
  if (!failure.empty() && !(may_try && try_recover())) {
    std::lock_guard lock(state_mutex_);
    failure = failure_ + (last_retry_.empty() ? "" : " (last retry: " + last_retry_ + ")");
  } else {
    failure.clear();
  }
  if (!failure.empty()) refuse(failure, kResumesByItself);
  check_free_space();
}

void WriteGuard::commit(const Disk& disk, rocksdb::WriteBatch& batch) {
  const std::string failure = disk.try_commit(batch);  // durable when acknowledged (survives kill -9)
  if (failure.empty()) return;
  ++failed_writes_;
  database_.note_write_failure();
  fail("a write failed: " + failure);
  throw StoreUnavailable("store write failed (nothing changed): " + failure +
                         ". Writes are refused until the store recovers, by itself once the cause is gone; DNS keeps "
                         "answering");
}

void WriteGuard::check_free_space() {
  const auto shortage = database_.short_of_space();
  bool changed;
  {
    std::lock_guard lock(state_mutex_);
    changed = shortage.has_value() != low_space_;
    low_space_ = shortage.has_value();
  }
  if (changed && shortage)
    log::f(log::Level::Warning, "store: writes are refused while %s; DNS keeps answering", shortage->c_str());
  else if (changed)
    log::info("store: free space is above storage_min_free_mib again: writes are accepted");
  if (shortage) refuse(*shortage, kResumesByItself);
}

void WriteGuard::refuse(const std::string& reason, std::string_view outlook) {
  ++refused_writes_;
  std::string message = "the store refuses writes (nothing changed): " + reason;
  if (!outlook.empty()) message += ". " + std::string(outlook);
  throw StoreUnavailable(message);
}

std::string WriteGuard::damage_found() const {
  auto checksums = database_.checksums();
  return checksums.state == ChecksumCheck::State::damaged ? std::move(checksums.damage) : std::string();
}

void WriteGuard::fail(const std::string& reason) {
  {
    std::lock_guard lock(state_mutex_);
    if (!failure_.empty()) return;
    failure_ = reason;
    failed_since_ = unix_seconds(clock_->now());
    last_retry_.clear();
    backoff_ = std::chrono::seconds(1);
    next_attempt_ = steady::now() + backoff_;
  }
  log::f(log::Level::Error,
         "store: writes are refused from now on: %s. DNS keeps answering from memory; stsd reopens the store by "
         "itself once the cause is gone (retrying at growing intervals up to %llds)",
         reason.c_str(), static_cast<long long>(kLongestBackoff.count()));
  ensure_recovery_thread();
  wake_.notify_all();
}

// ---- recovery --------------------------------------------------------------------------

bool WriteGuard::try_recover() {
  // Damage does not heal: reopening would only make the store look writable again.
  if (!damage_found().empty()) return false;
  const auto started = steady::now();
  const uint64_t room = std::max(database_.min_free_bytes(), kRoomToRecover);
  if (auto free = database_.free_bytes(); free && *free < room) {
    std::lock_guard lock(state_mutex_);
    last_retry_ = "waiting for space: " + std::to_string(*free >> 20) + " MiB free";
    next_attempt_ = started + std::chrono::seconds(1);  // the check is cheap; reopening is not
    return false;
  }
  std::string why;
  bool recovered;
  if (database_.can_reopen()) {
    recovered = database_.reopen(why);
  } else {
    const auto status = database_.db().Resume();
    recovered = status.ok();
    why = status.ToString();
  }
  std::lock_guard lock(state_mutex_);
  if (!recovered) {
    if (why != last_retry_)
      log::f(log::Level::Warning, "store: writes stay refused: reopening failed: %s", why.c_str());
    last_retry_ = why;
    next_attempt_ = steady::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, kLongestBackoff);
    return false;
  }
  log::f(log::Level::Info, "store: writes resumed, %lld s after they were refused: the store was %s",
         static_cast<long long>(unix_seconds(clock_->now()) - failed_since_),
         database_.can_reopen() ? "reopened" : "resumed");
  failure_.clear();
  last_retry_.clear();
  failed_since_ = 0;
  backoff_ = std::chrono::seconds(1);
  ++recoveries_;
  recovered_unannounced_ = true;
  wake_.notify_all();
  return true;
}

void WriteGuard::ensure_recovery_thread() {
  std::lock_guard lock(state_mutex_);
  if (recovery_thread_.joinable() || stopping_) return;
  recovery_thread_ = std::thread([this] { recovery_loop(); });
}

void WriteGuard::recovery_loop() {
  std::unique_lock lock(state_mutex_);
  while (!stopping_) {
    if (recovered_unannounced_) {
      recovered_unannounced_ = false;
      auto callback = on_recovered_;
      lock.unlock();
      if (callback) {
        try {
          callback();
        } catch (const std::exception& e) {
          log::f(log::Level::Error, "store: after recovering: %s", e.what());
        }
      }
      lock.lock();
    } else if (failure_.empty() || !damage_found().empty()) {
      wake_.wait(lock);  // nothing to recover from, or nothing a reopen would cure
    } else if (steady::now() < next_attempt_) {
      wake_.wait_until(lock, next_attempt_);
    } else {
      lock.unlock();
      {
        std::lock_guard writer(writer_mutex_);
        if (failed()) try_recover();
      }
      lock.lock();
    }
  }
}

// ---- state -----------------------------------------------------------------------------

StoreHealth WriteGuard::health() const {
  StoreHealth health;
  health.min_free_bytes = database_.min_free_bytes();
  health.free_bytes = database_.free_bytes();
  health.read_only = database_.read_only();
  health.torn_wal = database_.torn_wal();
  health.checksums = database_.checksums();
  if (health.checksums.state == ChecksumCheck::State::damaged) {
    // First: it outlasts every other cause, which a reopen may cure.
    health.writable = false;
    health.reason = health.checksums.damage;
    health.failed_since = health.checksums.at;
  }
  if (health.writable) {
    std::lock_guard lock(state_mutex_);
    if (!failure_.empty()) {
      health.writable = false;
      health.reason = failure_ + (last_retry_.empty() ? "" : " (last retry: " + last_retry_ + ")");
      health.failed_since = failed_since_;
    }
  }
  if (health.writable) {
    if (auto error = database_.background_error(); !error.empty()) {
      health.writable = false;
      health.reason = "RocksDB stopped writes after a background error: " + error;
    } else if (auto shortage = database_.short_of_space()) {
      health.writable = false;
      health.reason = *shortage;
    }
  }
  health.failed_writes = failed_writes_.load(std::memory_order_relaxed);
  health.refused_writes = refused_writes_.load(std::memory_order_relaxed);
  health.recoveries = recoveries_.load(std::memory_order_relaxed);
  return health;
}

void write_health_metrics(const StoreHealth& health, metrics::MetricsWriter& writer) {
  writer.gauge("stsd_store_writable", "1 when the store accepts writes now, 0 while it refuses them", {},
               health.writable ? 1 : 0);
  writer.gauge("stsd_store_read_only", "1 while the store's database is open read-only", {}, health.read_only ? 1 : 0);
  if (health.free_bytes)
    writer.gauge("stsd_store_free_bytes", "free space on the store's file system", {},
                 static_cast<double>(*health.free_bytes));
  writer.gauge("stsd_store_min_free_bytes", "writes are refused below this much free space (storage_min_free_mib)", {},
               static_cast<double>(health.min_free_bytes));
  writer.gauge("stsd_store_torn_wal", "1 when the last opening dropped a torn record at the end of the write-ahead log",
               {}, health.torn_wal.empty() ? 0 : 1);
  writer.counter("stsd_store_failed_writes_total",
                 "writes RocksDB failed (the store then refuses writes until it recovers)", {},
                 static_cast<double>(health.failed_writes));
  writer.counter("stsd_store_refused_writes_total", "writes refused before reaching RocksDB", {},
                 static_cast<double>(health.refused_writes));
  writer.counter("stsd_store_recoveries_total", "times writes resumed after the store refused them", {},
                 static_cast<double>(health.recoveries));
  const auto& checksums = health.checksums;
  writer.gauge("stsd_store_checksums_damaged",
               "1 when the background checksum verification found a damaged table file (writes refused until a "
               "restart on a restored store)",
               {}, checksums.state == ChecksumCheck::State::damaged ? 1 : 0);
  writer.gauge("stsd_store_checksums_verified_time_seconds",
               "Unix time the background verification found every table file's checksums intact; 0 until then", {},
               checksums.state == ChecksumCheck::State::verified ? static_cast<double>(checksums.at) : 0);
}

}  // namespace stsd::store
