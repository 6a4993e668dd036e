#include "store/disk.h"

#include <rocksdb/db.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include "store/bulk_commit.h"
#include "store/codecs.h"
#include "store/database.h"
#include "store/errors.h"
#include "store/keys.h"

namespace stsd::store {

rocksdb::DB& Disk::db() const { return database_.db(); }

std::optional<std::string> Disk::get(std::string_view key, const rocksdb::Snapshot* snapshot) const {
  std::string value;
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  auto s = db().Get(options, rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) throw StoreError("store read of " + std::string(key) + " failed: " + s.ToString());
  return value;
}

void Disk::commit(rocksdb::WriteBatch& batch, bool sync) const {
  if (database_.read_only())
    throw StoreUnavailable("the store is open read-only (" + database_.read_only_reason() + "): nothing changed");
  if (auto failure = try_commit(batch, sync); !failure.empty())
    throw StoreError("store write failed (nothing changed): " + failure);
}

std::string Disk::try_commit(rocksdb::WriteBatch& batch, bool sync) const {
  if (database_.read_only()) return "the store is open read-only (" + database_.read_only_reason() + ")";
  // A large batch (an import) as one table file: several times faster, the same guarantees
  // (bulk_commit.h); always durable, as if `sync`.
  if (batch.Count() >= database_.ingest_min_operations())
    if (auto failure = ingest_batch(db(), database_.folder(), batch)) return *failure;
  rocksdb::WriteOptions options;
  options.sync = sync;
  auto s = db().Write(options, &batch);
  return s.ok() ? std::string() : s.ToString();
}

std::optional<PolicyVersion> Disk::version(std::string_view domain, uint32_t number,
                                           const rocksdb::Snapshot* snapshot) const {
  const std::string key = keys::version(domain, number);
  auto value = get(key, snapshot);
  if (!value) return std::nullopt;
  try {
    return decode_version(*value);
  } catch (const std::exception& e) {
    throw StoreError("store record " + key + " is corrupt: " + e.what());
  }
}

std::optional<DomainRecord> Disk::record(const std::string& domain, const rocksdb::Snapshot* snapshot) const {
  const std::string key = keys::domain(domain);
  auto value = get(key, snapshot);
  if (!value) return std::nullopt;
  StoredRecord stored;
  try {
    stored = decode_record(*value);
  } catch (const std::exception& e) {
    throw StoreError("store record " + key + " is corrupt: " + e.what());
  }
  DomainRecord& r = stored.record;
  if (stored.staged) {
    if (auto v = version(domain, stored.staged, snapshot))
      r.staged = std::make_shared<const PolicyVersion>(std::move(*v));
    if (!r.staged)
      throw StoreError("store is inconsistent: " + domain + " staged version " + std::to_string(stored.staged) +
                       " is missing");
  }
  if (stored.confirmed) {
    if (stored.confirmed == stored.staged)
      r.confirmed = r.staged;
    else if (auto v = version(domain, stored.confirmed, snapshot))
      r.confirmed = std::make_shared<const PolicyVersion>(std::move(*v));
    if (!r.confirmed)
      throw StoreError("store is inconsistent: " + domain + " confirmed version " + std::to_string(stored.confirmed) +
                       " is missing");
  }
  return std::move(r);
}

Snapshot::Snapshot(const Disk& disk) : db_(disk.db()), snapshot_(db_.GetSnapshot()) {}
Snapshot::~Snapshot() { db_.ReleaseSnapshot(snapshot_); }

}  // namespace stsd::store
