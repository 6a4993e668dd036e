#pragma once
// The store's records in RocksDB: reads (optionally from one snapshot, so several reads
// agree with each other) and synced commits. Errors are StoreErrors naming the key.
// Reads go to the database's instance in use: outside the store's writer lock, hold the
// database's read_lock() (Database::reopen replaces the instance).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/domain_record.h"

namespace rocksdb {
class DB;
class Snapshot;
class WriteBatch;
}  // namespace rocksdb

namespace stsd::store {

class Database;

class Disk {
 public:
  explicit Disk(Database& database) : database_(database) {}

  rocksdb::DB& db() const;
  Database& database() const { return database_; }

  std::optional<std::string> get(std::string_view key, const rocksdb::Snapshot* snapshot = nullptr) const;
  // Writes `batch` atomically; `sync`: durable when this returns (survives kill -9). A
  // batch of Database::ingest_min_operations() or more is ingested as a table file (bulk_commit.h).
  // Throws StoreError, and then nothing was written (StoreUnavailable when the database
  // is open read-only).
  void commit(rocksdb::WriteBatch& batch, bool sync = true) const;
  // The same, returning the reason instead of throwing it (empty when written).
  std::string try_commit(rocksdb::WriteBatch& batch, bool sync = true) const;

  std::optional<PolicyVersion> version(std::string_view domain, uint32_t number,
                                       const rocksdb::Snapshot* snapshot = nullptr) const;
  // The domain's record and the versions it points to; nullopt when the domain is not in
  // the store. Throws StoreError for a corrupt record or a pointer to a missing version.
  std::optional<DomainRecord> record(const std::string& domain, const rocksdb::Snapshot* snapshot = nullptr) const;

 private:
  Database& database_;
};

// A RocksDB snapshot released at scope exit.
class Snapshot {
 public:
  explicit Snapshot(const Disk& disk);
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB& db_;
  const rocksdb::Snapshot* snapshot_;
};

}  // namespace stsd::store
