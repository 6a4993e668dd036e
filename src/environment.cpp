#include "environment.h"

#include <stdexcept>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

namespace stsd {

Environment::Environment(std::filesystem::path config_dir, std::optional<std::filesystem::path> storage,
                         std::shared_ptr<Clock> clock, bool check_only)
    : config_dir_(std::move(config_dir)), storage_(std::move(storage)), clock_(std::move(clock)), check_only_(check_only) {
  if (!clock_) clock_ = std::make_shared<SystemClock>();
}

Environment::~Environment() {
  // Shared objects may hold the database: drop them first.
  shared_.clear();
  if (db_) {
    // Every write was synced to the WAL already; flushing the memtable now spares the
    // next start a replay of up to a whole memtable of WAL (seconds after a bulk import).
    rocksdb::FlushOptions flush;
    flush.wait = true;
    (void)db_->Flush(flush);
    (void)db_->Close();
  }
  db_.reset();
}

rocksdb::DB& Environment::database() {
  std::lock_guard lock(mutex_);
  if (db_) return *db_;
  if (check_only_) throw std::runtime_error("the store is not opened while checking a config");
  if (!storage_) throw std::runtime_error("no `storage:` folder is configured");
  std::error_code ec;
  std::filesystem::create_directories(*storage_, ec);
  if (ec) throw std::runtime_error("storage " + storage_->string() + ": cannot create folder: " + ec.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  options.keep_log_file_num = 5;
  options.max_log_file_size = 4 << 20;
  // The memtables are most of a running server's memory after a bulk import (64 MiB each
  // by default); the store's writes are small, so smaller ones cost nothing that matters.
  options.write_buffer_size = 16 << 20;
  options.max_write_buffer_number = 2;
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(options, storage_->string(), &raw);
  if (!status.ok()) throw std::runtime_error("storage " + storage_->string() + ": " + status.ToString());
  db_.reset(raw);
  return *db_;
}

}  // namespace stsd
