#pragma once
// The RocksDB under `storage:`: how it is opened and reopened, and the instance in use.
//
// Opening (the fault model is in README.md, "Faults"):
// * the folder is the owner's alone (0700; files stsd finds group- or world-readable are
//   made 0600; stsd creates files under umask 077);
// * the write-ahead log must end cleanly: a torn tail (a write cut short by a crash or a
//   full disk) is dropped, and said loudly (torn_wal()); damage anywhere else refuses;
// * damage that opening meets (the MANIFEST, the log, a table file's index, filter or
//   properties block) is refused with a message naming the file and the way out (restore
//   a backup); so is damage the served-record scan meets (loader.cpp);
// * every table file's block checksums are then verified in the background, once the
//   served records are loaded, while DNS already answers (checksum_verification.h): damage
//   found there refuses writes until a restart (WriteGuard), and checksums() reports it;
// * when the file system refuses writes (full, read-only, not permitted) the database is
//   opened read-only instead, so DNS is served from what is on disk; reopen() makes it
//   writable again once the cause is gone.
// RocksDB's own log goes to stsd's log (warnings and errors), not to a LOG file in the
// store: a LOG file on a full disk is what turned the first failed write into an abort.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>

#include "environment.h"
#include "store/bulk_commit.h"
#include "store/errors.h"
#include "store/records.h"

namespace rocksdb {
class DB;
class Env;
struct Options;
class Status;
}  // namespace rocksdb

namespace stsd::store {

struct StorageOptions {
  // Writes are refused while the store's file system has less free space than this, and
  // the store opens read-only when it has less at start (`storage_min_free_mib`).
  uint64_t min_free_bytes = kDefaultStorageMinFreeMib << 20;
  // Tests inject I/O faults through an Env of their own; null: the default file system.
  std::shared_ptr<rocksdb::Env> env;
  // Writes of at least this many operations are committed as a table file (bulk_commit.h);
  // tests compare that with ordinary writes by setting it out of reach.
  size_t ingest_min_operations = kIngestMinOperations;
};

// `bytes` as "3.5 MiB", for messages about space.
std::string mib(uint64_t bytes);

// The way out of a damaged store in `folder`, for messages: "stop stsd, move ... aside and
// restore it from a backup (docs/backups.md)".
std::string restore_advice(const std::filesystem::path& folder);
// The start refused: `what` (RocksDB's Corruption, naming the file) met while opening or
// while loading what DNS answers.
StoreError damaged_store(const std::filesystem::path& folder, const std::string& what);

class ChecksumVerification;

class Database {
 public:
  // Opens the database in `folder`, creating the folder and the database when missing.
  // Throws StoreError naming the folder and the reason (held by another process, damaged:
  // naming the file and the way out). A file system that refuses writes opens it
  // read-only rather than failing (read_only()).
  static std::shared_ptr<Database> open(const std::filesystem::path& folder, StorageOptions options = {});
  // A database its caller keeps open (tests): never reopened, no headroom unless given.
  static std::shared_ptr<Database> borrow(rocksdb::DB& db, uint64_t min_free_bytes = 0);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // The instance in use. Outside the store's writer lock, hold read_lock() while using it
  // (and anything made from it: iterators, snapshots): reopen() replaces it.
  rocksdb::DB& db() const;
  [[nodiscard]] std::shared_lock<std::shared_mutex> read_lock() const { return std::shared_lock(swap_); }

  const std::filesystem::path& folder() const { return folder_; }
  uint64_t min_free_bytes() const { return min_free_bytes_; }
  size_t ingest_min_operations() const { return options_.ingest_min_operations; }
  // Free space of the folder's file system for this user (statvfs f_bavail); nullopt when
  // it cannot be read.
  std::optional<uint64_t> free_bytes() const;
  // Why writes must wait for space (free below min_free_bytes), nullopt when there is room.
  std::optional<std::string> short_of_space() const;

  // Opened read-only (the file system refused writes); why, for messages.
  bool read_only() const;
  std::string read_only_reason() const;
  // What the last opening dropped from a torn WAL tail (the file and the bytes); empty
  // when the log ended cleanly.
  std::string torn_wal() const;
  // A background error that stopped RocksDB's writes since the last (re)open, empty when
  // none (RocksDB's own recovery is turned off: the store decides when to reopen).
  std::string background_error() const;
  // A write through this instance failed: it is closed without a flush.
  void note_write_failure();
  // Starts verifying every table file's checksums on a thread of low priority
  // (checksum_verification.h); once, and not for a borrowed database. The loader calls it
  // when the served records are loaded (and checked as they were read), so that it does
  // not compete with that scan: DNS answers first. No readiness gate waits for it.
  void verify_checksums_in_background();
  // What it found so far (not_run before it started, and for a borrowed database). Damage
  // does not heal: the write guard refuses writes until a restart.
  ChecksumCheck checksums() const;

  // Closes the instance and opens the folder again, read-write when the file system allows
  // it, else read-only (so reads go on). Call under the store's writer lock; readers wait
  // (read_lock). Returns true when read-write; `why` says what stood in the way. A borrowed
  // database is never reopened (false).
  bool reopen(std::string& why);
  bool can_reopen() const { return owned_; }

  struct Events;  // what RocksDB tells the database (its log, background errors)

 private:
  Database(std::filesystem::path folder, StorageOptions options, bool owned);
  void open_at_start();
  // One attempt: read-write or read-only, the WAL read strictly and then, when only its
  // tail is torn, without the tail. Sets db_ on success.
  rocksdb::Status open_instance(bool read_only, bool tolerate_torn_tail);
  void open_read_only_because(const std::string& reason);
  // How an instance opens and reads its files (also how the verification reads them).
  rocksdb::Options instance_options() const;
  void prepare_checksum_verification();
  void close_instance();

  const std::filesystem::path folder_;
  const StorageOptions options_;
  const uint64_t min_free_bytes_;
  const bool owned_;
  std::shared_ptr<Events> events_;
  std::unique_ptr<rocksdb::DB> owned_db_;
  rocksdb::DB* db_ = nullptr;
  mutable std::shared_mutex swap_;
  mutable std::mutex state_mutex_;  // the fields below
  bool read_only_ = false;
  std::string read_only_reason_;
  std::string torn_wal_;
  bool write_failed_ = false;
  // Made when the database opens, before any other thread can ask for its state; the
  // destructor stops it before closing the instance.
  std::unique_ptr<ChecksumVerification> checksum_verification_;
};

}  // namespace stsd::store
