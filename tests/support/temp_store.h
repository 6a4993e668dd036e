#pragma once
// A real RocksDB in a folder of the test's own (test::TempDir: dir() / "db"), removed at
// the end of the test; `reopen` simulates a restart (the database is closed and opened
// again from disk).
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "temp_dir.h"

namespace stsd::store::test_support {

class TempStore {
 public:
  TempStore() { open(); }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;

  rocksdb::DB& db() { return *db_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  void close() { db_.reset(); }
  void open() {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    auto status = rocksdb::DB::Open(options, (dir() / "db").string(), &raw);
    if (!status.ok()) throw std::runtime_error("cannot open test store: " + status.ToString());
    db_.reset(raw);
  }
  void reopen() {
    close();
    open();
  }
  // Reopens the database read-only: every write fails, as on a disk that refuses writes.
  void reopen_read_only() {
    close();
    rocksdb::DB* raw = nullptr;
    auto status = rocksdb::DB::OpenForReadOnly(rocksdb::Options(), (dir() / "db").string(), &raw);
    if (!status.ok()) throw std::runtime_error("cannot open test store read-only: " + status.ToString());
    db_.reset(raw);
  }

 private:
  stsd::test::TempDir dir_{"store-test"};
  std::unique_ptr<rocksdb::DB> db_;  // closed before dir_ is removed
};

}  // namespace stsd::store::test_support
