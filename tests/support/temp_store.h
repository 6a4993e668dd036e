#pragma once
// A real RocksDB in a fresh temporary folder, removed at the end of the test; `reopen`
// simulates a restart (the database is closed and opened again from disk).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

namespace stsd::store::test_support {

class TempStore {
 public:
  TempStore() {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("stsd-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(dir_);
    open();
  }
  ~TempStore() {
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;

  rocksdb::DB& db() { return *db_; }
  const std::filesystem::path& dir() const { return dir_; }
  void close() { db_.reset(); }
  void open() {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    auto status = rocksdb::DB::Open(options, (dir_ / "db").string(), &raw);
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
    auto status = rocksdb::DB::OpenForReadOnly(rocksdb::Options(), (dir_ / "db").string(), &raw);
    if (!status.ok()) throw std::runtime_error("cannot open test store read-only: " + status.ToString());
    db_.reset(raw);
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace stsd::store::test_support
