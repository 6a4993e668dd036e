#include "store/database.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "store/errors.h"

namespace stsd::store {

std::shared_ptr<Database> Database::open(const std::filesystem::path& folder) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw StoreError("storage " + folder.string() + ": cannot create folder: " + ec.message());
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
  // RocksDB locks the folder: a second process gets "IO error: lock ... held by process".
  auto status = rocksdb::DB::Open(options, folder.string(), &raw);
  if (!status.ok()) throw StoreError("storage " + folder.string() + ": " + status.ToString());
  return std::shared_ptr<Database>(new Database(std::unique_ptr<rocksdb::DB>(raw)));
}

Database::Database(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}

Database::~Database() {
  // Every write was synced to the WAL already; flushing the memtable now spares the next
  // start a replay of up to a whole memtable of WAL (seconds after a bulk import).
  rocksdb::FlushOptions flush;
  flush.wait = true;
  (void)db_->Flush(flush);
  (void)db_->Close();
}

}  // namespace stsd::store
