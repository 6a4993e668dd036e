#include "store/database.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include "logging.h"
#include "store/backup.h"
#include "store/checksum_verification.h"
#include "store/errors.h"

namespace stsd::store {

namespace fs = std::filesystem;

struct Database::Events {
  std::mutex mutex;
  std::string background_error;  // the first hard background error since the last open
  std::string last_wal_drop;     // RocksDB's last "<wal>: dropping N bytes; ..." line
  std::map<std::string, std::chrono::steady_clock::time_point> recent;  // lines logged lately
};

namespace {

// RocksDB's log, at warning and above, as lines of stsd's log ("store: rocksdb: ...").
// A line repeated within a minute is logged once: a full disk would otherwise repeat the
// same complaint every few seconds.
class StoreLogger final : public rocksdb::Logger {
 public:
  explicit StoreLogger(std::shared_ptr<Database::Events> events)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), events_(std::move(events)) {}

  void LogHeader(const char*, va_list) override {}  // the options dump: not for stsd's log
  void Logv(const char*, va_list) override {}       // level-less lines are informational
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel() || level >= rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char buffer[1024];
    std::vsnprintf(buffer, sizeof buffer, format, ap);
    std::string_view text(buffer);
    if (text.starts_with('[')) {  // "[db/db_impl/db_impl_open.cc:982] ": RocksDB's source line
      if (auto end = text.find("] "); end != std::string_view::npos) text.remove_prefix(end + 2);
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    if (harmless(text) || !fresh(text)) return;
    log::f(level >= rocksdb::InfoLogLevel::ERROR_LEVEL ? log::Level::Error : log::Level::Warning,
           "store: rocksdb: %.*s", static_cast<int>(text.size()), text.data());
  }

 private:
  // Warnings about nothing an operator can or should act on.
  static bool harmless(std::string_view text) {
    // The checksum verification reads each table file through a reader that is given no
    // unique id from the MANIFEST to compare with (RocksDB calls the file "0.sst"); every
    // block's checksum is verified all the same.
    return text.find("opened without unique ID to verify") != std::string_view::npos;
  }

  bool fresh(std::string_view text) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(events_->mutex);
    if (text.find(": dropping ") != std::string_view::npos) events_->last_wal_drop = std::string(text);
    auto& recent = events_->recent;
    if (recent.size() > 256) recent.clear();
    auto [at, added] = recent.emplace(std::string(text), now);
    if (!added && now - at->second < std::chrono::minutes(1)) return false;
    at->second = now;
    return true;
  }

  std::shared_ptr<Database::Events> events_;
};

// Notes a background error that stops writes, and turns RocksDB's own recovery off: the
// store reopens the database itself when the cause is gone (write_guard.h), and a RocksDB
// recovery running meanwhile would make that reopen wait or fail.
class StoreListener final : public rocksdb::EventListener {
 public:
  explicit StoreListener(std::shared_ptr<Database::Events> events) : events_(std::move(events)) {}

  void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status* error) override {
    if (error->severity() < rocksdb::Status::Severity::kHardError) return;  // soft: writes go on
    std::lock_guard lock(events_->mutex);
    if (events_->background_error.empty()) events_->background_error = error->ToString();
  }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override {
    *auto_recovery = false;
  }

 private:
  std::shared_ptr<Database::Events> events_;
};

// The store is its owner's alone: the folder 0700 and its files 0600 (issue 12: a
// world-readable store showed every domain to every local user). stsd creates new files
// under umask 077 (src/main); a store written by an older stsd is tightened here.
void prepare_folder(const fs::path& folder) {
  std::error_code ec;
  if (!fs::exists(folder, ec)) {
    if (folder.has_parent_path()) fs::create_directories(folder.parent_path(), ec);
    if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST)
      throw StoreError("storage " + folder.string() + ": cannot create folder: " + std::strerror(errno));
  }
  struct stat info {};
  if (::stat(folder.c_str(), &info) != 0) throw StoreError("storage " + folder.string() + ": " + std::strerror(errno));
  if (!S_ISDIR(info.st_mode)) throw StoreError("storage " + folder.string() + ": not a folder");
  if ((info.st_mode & 077) != 0) {
    if (::chmod(folder.c_str(), 0700) == 0)
      log::f(log::Level::Warning, "store: %s was readable by other users (mode %03o); it is 0700 now", folder.c_str(),
             static_cast<unsigned>(info.st_mode & 0777));
    else
      log::f(log::Level::Warning, "store: %s is readable by other users (mode %03o) and cannot be changed: %s",
             folder.c_str(), static_cast<unsigned>(info.st_mode & 0777), std::strerror(errno));
  }
  size_t tightened = 0;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    struct stat file {};
    if (::lstat(entry.path().c_str(), &file) != 0 || !S_ISREG(file.st_mode) || (file.st_mode & 077) == 0) continue;
    if (::chmod(entry.path().c_str(), 0600) == 0) ++tightened;
  }
  if (tightened)
    log::f(log::Level::Warning, "store: %zu files in %s were readable by other users; they are 0600 now", tightened,
           folder.c_str());
}

// Why writes in `folder` fail, found by writing a small file there (nullopt: they work).
// Tells a file system that refuses writes (full, read-only, not permitted, failing) from
// other reasons RocksDB could not open the database for (held by another process).
std::optional<std::string> write_refusal(const fs::path& folder) {
  const fs::path probe = folder / ".stsd-write-probe";
  const auto refused = [&](int error) {
    ::unlink(probe.c_str());
    return std::optional<std::string>("the file system refuses writes in " + folder.string() + " (" +
                                      std::strerror(error) + ")");
  };
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return refused(errno);
  std::vector<char> block(64 << 10, 0);
  const bool written = ::write(fd, block.data(), block.size()) == static_cast<ssize_t>(block.size());
  const int write_error = errno;
  const bool synced = written && ::fsync(fd) == 0;
  const int sync_error = errno;
  ::close(fd);
  if (!written) return refused(write_error ? write_error : ENOSPC);
  if (!synced) return refused(sync_error);
  ::unlink(probe.c_str());
  return std::nullopt;
}

}  // namespace

std::string mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

std::string restore_advice(const fs::path& folder) {
  return "stop stsd, move " + folder.string() + " aside and restore it from a backup (docs/backups.md)";
}

StoreError damaged_store(const fs::path& folder, const std::string& what) {
  return StoreError("storage " + folder.string() + ": the store is damaged: " + what +
                    ". stsd does not serve a damaged store: " + restore_advice(folder));
}

// ---- opening -----------------------------------------------------------------------------

Database::Database(fs::path folder, StorageOptions options, bool owned)
    : folder_(std::move(folder)),
      options_(std::move(options)),
      min_free_bytes_(options_.min_free_bytes),
      owned_(owned),
      events_(std::make_shared<Events>()) {}

std::shared_ptr<Database> Database::open(const fs::path& folder, StorageOptions options) {
  prepare_folder(folder);
  remove_leftover_ingest_files(folder);
  remove_leftover_backup_staging(folder);
  std::shared_ptr<Database> database(new Database(folder, std::move(options), true));
  database->open_at_start();
  database->prepare_checksum_verification();
  return database;
}

std::shared_ptr<Database> Database::borrow(rocksdb::DB& db, uint64_t min_free_bytes) {
  StorageOptions options;
  options.min_free_bytes = min_free_bytes;
  std::shared_ptr<Database> database(new Database(db.GetName(), std::move(options), false));
  database->db_ = &db;
  return database;
}

void Database::open_at_start() {
  if (auto shortage = short_of_space()) {
    open_read_only_because(*shortage);
  } else if (auto status = open_instance(false, false); !status.ok()) {
    if (status.IsCorruption()) throw damaged_store(folder_, status.ToString());
    auto refusal = write_refusal(folder_);
    if (!refusal) throw StoreError("storage " + folder_.string() + ": " + status.ToString());
    open_read_only_because(*refusal + ": " + status.ToString());
  }
}

// The WAL recovery mode, chosen: every acknowledged write was synced, so a write-ahead log
// that does not end cleanly has lost something, and stsd must know. RocksDB's default,
// kPointInTimeRecovery, silently drops everything after the first bad record, and
// kTolerateCorruptedTailRecords silently drops a torn tail. So the log is read with
// kAbsoluteConsistency first. When that fails and kTolerateCorruptedTailRecords succeeds,
// only the tail was torn: a write cut short (by a crash or a full disk) that was never
// acknowledged, unless the disk lost a synced write. It is dropped, and reported loudly
// (the log, torn_wal(): /v1/server and the metrics). Damage before the tail refuses to
// open: acknowledged writes after it would be lost. A reopen after a failed write expects
// that write's torn record and goes straight to the tolerant mode.
rocksdb::Options Database::instance_options() const {
  rocksdb::Options options;
  options.paranoid_checks = true;  // stop at any inconsistency instead of reading around it
  options.IncreaseParallelism(2);
  // The memtables are most of a running server's memory after a bulk import (64 MiB each
  // by default); the store's writes are small, so smaller ones cost nothing that matters.
  options.write_buffer_size = 16 << 20;
  options.max_write_buffer_number = 2;
  // A bloom filter on whole keys (10 bits a key, about 1 % false positives): adding a
  // domain reads keys that are not there (mtasts/n/<domain>, its kept numbering), and
  // without a filter each such read searches a block of every table file in its range.
  // Table files written before have none and are read as before.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // An import request becomes one table file in level 0 spanning the whole key range
  // (bulk_commit.h), and each level-0 compaction rewrites all of level 1: at RocksDB's
  // trigger of 4 files, importing 1M domains in requests of 50,000 spent 54 s of CPU, at
  // 16 files 40 s (bench_store, BM_StoreImportMillion). Reads look into more level-0
  // files, which the bloom filter mostly answers without a block read; DNS answers from
  // memory. The stall triggers stay above it. Each file's table reader (index and filter)
  // stays in memory: two files a request and triggers twice as high left 40 level-0
  // files after a 1M import and stsd 56 MiB larger after a restart (2026-11-30).
  options.level0_file_num_compaction_trigger = 16;
  options.level0_slowdown_writes_trigger = 24;
  options.level0_stop_writes_trigger = 36;
  options.info_log = std::make_shared<StoreLogger>(events_);
  options.listeners.push_back(std::make_shared<StoreListener>(events_));
  if (options_.env) options.env = options_.env.get();
  // Compactions at nice 19: they are never urgent (the stall triggers above bound their
  // backlog), and at the default priority they took the CPU from DNS answers and from
  // the API's requests (a bulk import waited for compactions of its own earlier requests:
  // 1M domains 12.4 -> 11.6 s). Flushes (the high pool) stay at the default.
  options.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW);
  return options;
}

rocksdb::Status Database::open_instance(bool read_only, bool tolerate_torn_tail) {
  rocksdb::Options options = instance_options();
  options.create_if_missing = !read_only;
  const auto attempt = [&](rocksdb::WALRecoveryMode mode) {
    options.wal_recovery_mode = mode;
    rocksdb::DB* raw = nullptr;
    // RocksDB locks the folder: a second process gets "IO error: lock ... held by process".
    auto status = read_only ? rocksdb::DB::OpenForReadOnly(options, folder_.string(), &raw)
                            : rocksdb::DB::Open(options, folder_.string(), &raw);
    if (status.ok()) {
      owned_db_.reset(raw);
      db_ = raw;
    }
    return status;
  };
  if (tolerate_torn_tail) return attempt(rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords);
  {
    std::lock_guard lock(events_->mutex);
    events_->last_wal_drop.clear();
  }
  auto strict = attempt(rocksdb::WALRecoveryMode::kAbsoluteConsistency);
  if (strict.ok() || !strict.IsCorruption()) return strict;
  if (!attempt(rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords).ok()) return strict;
  std::string dropped;
  {
    std::lock_guard lock(events_->mutex);
    dropped = events_->last_wal_drop.empty() ? strict.ToString() : events_->last_wal_drop;
  }
  {
    std::lock_guard lock(state_mutex_);
    torn_wal_ = dropped;
  }
  log::f(log::Level::Error,
         "store: %s: the write-ahead log ended in a torn record (%s). The last write was cut short by a crash or a "
         "full disk and is dropped; it was never acknowledged unless the disk lost a synced write. Check the latest "
         "changes with stsctl status (src/store/README.md, \"Faults\")",
         folder_.c_str(), dropped.c_str());
  return rocksdb::Status::OK();
}

void Database::open_read_only_because(const std::string& reason) {
  auto status = open_instance(true, false);
  if (!status.ok()) {
    if (status.IsCorruption()) throw damaged_store(folder_, status.ToString());
    throw StoreError("storage " + folder_.string() + ": cannot open it even read-only (" + reason +
                     "): " + status.ToString());
  }
  {
    std::lock_guard lock(state_mutex_);
    read_only_ = true;
    read_only_reason_ = reason;
  }
  log::f(log::Level::Error,
         "store: %s is open READ-ONLY: %s. DNS answers from the store as it is and every write is refused; writes "
         "resume by themselves, without a restart, once this is fixed",
         folder_.c_str(), reason.c_str());
}

// Every block of every table file read and checked, while DNS answers: damage is found
// with the file's name, rather than by the one request that happens to read the damaged
// block (checksum_verification.h).
void Database::prepare_checksum_verification() {
  const auto live_table_files = [this]() -> std::optional<std::vector<TableFile>> {
    auto lock = read_lock();  // a reopen replaces the instance
    if (db_ == nullptr) return std::nullopt;
    std::vector<rocksdb::LiveFileMetaData> live;
    db_->GetLiveFilesMetaData(&live);
    std::vector<TableFile> files;
    files.reserve(live.size());
    for (const auto& file : live)
      files.push_back({file.directory + "/" + file.relative_filename, file.size, file.largest_seqno});
    return files;
  };
  checksum_verification_ = std::make_unique<ChecksumVerification>(folder_, instance_options(), live_table_files);
}

void Database::verify_checksums_in_background() {
  if (checksum_verification_) checksum_verification_->start();
}

// ---- state -------------------------------------------------------------------------------

rocksdb::DB& Database::db() const {
  // Only after a reopen that could open the folder neither read-write nor read-only.
  if (db_ == nullptr) throw StoreUnavailable("storage " + folder_.string() + ": the store cannot be opened now");
  return *db_;
}

std::optional<uint64_t> Database::free_bytes() const {
  struct statvfs info {};
  if (::statvfs(folder_.c_str(), &info) != 0) return std::nullopt;
  return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
}

std::optional<std::string> Database::short_of_space() const {
  const auto free = free_bytes();
  if (!free || *free >= min_free_bytes_) return std::nullopt;
  return "the file system of " + folder_.string() + " has " + mib(*free) + " free, less than the " +
         mib(min_free_bytes_) + " stsd keeps free (storage_min_free_mib)";
}

bool Database::read_only() const {
  std::lock_guard lock(state_mutex_);
  return read_only_;
}

std::string Database::read_only_reason() const {
  std::lock_guard lock(state_mutex_);
  return read_only_reason_;
}

std::string Database::torn_wal() const {
  std::lock_guard lock(state_mutex_);
  return torn_wal_;
}

std::string Database::background_error() const {
  std::lock_guard lock(events_->mutex);
  return events_->background_error;
}

ChecksumCheck Database::checksums() const {
  return checksum_verification_ ? checksum_verification_->state() : ChecksumCheck{};
}

void Database::note_write_failure() {
  std::lock_guard lock(state_mutex_);
  write_failed_ = true;
}

// ---- reopening and closing ---------------------------------------------------------------

bool Database::reopen(std::string& why) {
  if (!owned_) {
    why = "the database is kept open by its owner";
    return false;
  }
  std::unique_lock swap(swap_);
  bool after_failure;
  {
    std::lock_guard lock(state_mutex_);
    after_failure = write_failed_;
  }
  after_failure = after_failure || !background_error().empty();
  close_instance();
  {
    std::lock_guard lock(events_->mutex);
    events_->background_error.clear();
  }
  auto status = open_instance(false, after_failure);
  if (status.ok()) {
    std::lock_guard lock(state_mutex_);
    write_failed_ = false;
    read_only_ = false;
    read_only_reason_.clear();
    return true;
  }
  why = status.ToString();
  // Reads go on from a read-only instance until the next attempt. write_failed_ stays: the
  // failed write's torn record is still at the end of the log.
  if (auto fallback = open_instance(true, true); !fallback.ok()) why += "; and read-only: " + fallback.ToString();
  std::lock_guard lock(state_mutex_);
  read_only_ = true;
  read_only_reason_ = why;
  return false;
}

void Database::close_instance() {
  if (!owned_db_) return;
  bool healthy;
  {
    std::lock_guard lock(state_mutex_);
    healthy = !read_only_ && !write_failed_;
  }
  if (healthy && background_error().empty()) {
    // Every write was synced to the WAL already; flushing the memtable now spares the
    // next start a replay of up to a whole memtable of WAL (seconds after a bulk import).
    rocksdb::FlushOptions flush;
    flush.wait = true;
    (void)owned_db_->Flush(flush);
  }
  // After a failed write RocksDB reports that it could not sync the failed log: known.
  if (auto status = owned_db_->Close(); !status.ok() && healthy)
    log::f(log::Level::Warning, "store: closing %s: %s", folder_.c_str(), status.ToString().c_str());
  owned_db_.reset();
  db_ = nullptr;
}

Database::~Database() {
  // The verification lists files through this object: it ends before anything closes.
  if (checksum_verification_) checksum_verification_->stop();
  close_instance();
}

}  // namespace stsd::store
