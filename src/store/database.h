#pragma once
// The RocksDB under `storage:`, opened with the store's options and closed (after a
// flush) when its last owner lets go.
#include <filesystem>
#include <memory>

namespace rocksdb {
class DB;
}

namespace stsd::store {

class Database {
 public:
  // Opens the database in `folder`, creating the folder and the database when missing.
  // Throws StoreError naming the folder and the reason (e.g. held by another process).
  static std::shared_ptr<Database> open(const std::filesystem::path& folder);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  rocksdb::DB& db() const { return *db_; }

 private:
  explicit Database(std::unique_ptr<rocksdb::DB> db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace stsd::store
