#include "store/space_records.h"

#include <algorithm>
#include <memory>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include "store/disk.h"
#include "store/errors.h"
#include "store/keys.h"

namespace stsd::store {

std::string space_prefix(std::string_view space) {
  const bool valid = !space.empty() && space.size() <= 32 && std::all_of(space.begin(), space.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!valid) throw PolicyError("store key space '" + std::string(space) + "' is not [a-z0-9_]{1,32}");
  return std::string(keys::kSpacePrefix).append(space).append("/");
}

void scan_space(const Disk& disk, std::string_view prefix,
                const std::function<bool(std::string_view key, std::string_view value)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(disk.db().NewIterator(rocksdb::ReadOptions()));
  const rocksdb::Slice start(prefix.data(), prefix.size());
  for (it->Seek(start); it->Valid() && it->key().starts_with(start); it->Next()) {
    const rocksdb::Slice key = it->key(), value = it->value();
    if (!visit(std::string_view(key.data(), key.size()), std::string_view(value.data(), value.size()))) return;
  }
  if (!it->status().ok()) throw StoreError("store scan of " + std::string(prefix) + " failed: " + it->status().ToString());
}

std::optional<std::string> SpaceWrite::get(std::string_view key) const { return disk_.get(prefix_ + std::string(key)); }

void SpaceWrite::scan(std::string_view key_prefix,
                      const std::function<bool(std::string_view key, std::string_view value)>& visit) const {
  scan_space(disk_, prefix_ + std::string(key_prefix), [&](std::string_view key, std::string_view value) {
    return visit(key.substr(prefix_.size()), value);
  });
}

void SpaceWrite::put(std::string_view key, std::string_view value) {
  batch_.Put(prefix_ + std::string(key), rocksdb::Slice(value.data(), value.size()));
}

void SpaceWrite::erase(std::string_view key) { batch_.Delete(prefix_ + std::string(key)); }

}  // namespace stsd::store
