#include "store/loader.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/metadata.h>
#include <rocksdb/write_batch.h>

#include "heap.h"
#include "logging.h"
#include "store/database.h"
#include "store/errors.h"
#include "store/keys.h"
#include "store/policy_store.h"

namespace stsd::store {

namespace {

constexpr size_t kMigrationBatch = 10000;
// Start-up reads the served records on this many threads when they hold at least
// kParallelLoadBytes (a second thread costs more than it saves on a small store).
constexpr size_t kLoadThreads = 2;
constexpr uint64_t kParallelLoadBytes = 8 << 20;

// Schema 1 -> 2: writes the served record of every domain (built from its JSON record and
// versions), in batches, then the schema key. Interrupted, it starts over at the next
// open (schema still 1): every step is idempotent.
void migrate_from_schema_1(const Disk& disk) {
  log::f(log::Level::Info, "mtasts: migrating the store from schema 1 to 2 (served records)");
  rocksdb::DB& db = disk.db();
  rocksdb::WriteBatch batch;
  size_t in_batch = 0, migrated = 0;
  const auto flush = [&](bool last) {
    disk.commit(batch, last);  // only the last batch (with the schema key) needs to be synced
    batch.Clear();
    in_batch = 0;
  };
  const std::string served_prefix(keys::kServedPrefix), domain_prefix(keys::kDomainPrefix);
  {
    // Leftovers of an interrupted migration (a domain removed since by an older stsd).
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(served_prefix); it->Valid() && it->key().starts_with(served_prefix); it->Next()) {
      batch.Delete(it->key());
      if (++in_batch >= kMigrationBatch) flush(false);
    }
    if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  }
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(domain_prefix); it->Valid() && it->key().starts_with(domain_prefix); it->Next()) {
    const std::string domain = it->key().ToString().substr(domain_prefix.size());
    auto record = disk.record(domain);
    if (!record) continue;
    batch.Put(keys::served(domain), encode_served_record(facts_of(domain, *record)));
    ++migrated;
    if (++in_batch >= kMigrationBatch) flush(false);
  }
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  batch.Put(std::string(keys::kSchema), "2");
  flush(true);
  log::f(log::Level::Info, "mtasts: migrated %zu domains to schema 2", migrated);
}

// Schema 2 -> 3: domains rotate at their own offsets (store/policy_id.h). The migration
// time is recorded so that every domain keeps its epoch-aligned periods until its first
// own boundary after it: no id moves at the upgrade. Served records gain the rotation
// hash as they are next written; older ones get it computed when loaded.
void migrate_from_schema_2(const Disk& disk, int64_t unix_now) {
  rocksdb::WriteBatch batch;
  batch.Put(std::string(keys::kAlignedUntil), std::to_string(unix_now));
  batch.Put(std::string(keys::kSchema), "3");
  disk.commit(batch);
  log::f(log::Level::Info,
         "mtasts: migrated the store to schema 3: each domain rotates at its own offset from its first "
         "rotation after now");
}

// Refuses what a newer stsd wrote rather than misread it; migrates an older one.
void check_schema(const Disk& disk, int64_t unix_now) {
  constexpr uint32_t kSchemaVersion = PolicyStore::kSchemaVersion;
  auto schema = disk.get(keys::kSchema);
  if (!schema) {
    rocksdb::WriteBatch batch;
    batch.Put(std::string(keys::kSchema), std::to_string(kSchemaVersion));
    disk.commit(batch);
    return;
  }
  uint32_t found = 0;
  try {
    found = static_cast<uint32_t>(std::stoul(*schema));
  } catch (const std::exception&) {
    throw StoreError("store key mtasts/schema holds '" + *schema + "', not a schema version");
  }
  if (found > kSchemaVersion)
    throw StoreError("the store was written by a newer stsd (mtasts schema " + std::to_string(found) +
                     "; this stsd understands up to " + std::to_string(kSchemaVersion) +
                     "): upgrade stsd or restore a matching backup");
  if (found < 1) throw StoreError("store key mtasts/schema holds '" + *schema + "', not a schema version");
  if (found == 1) migrate_from_schema_1(disk);
  if (found <= 2) migrate_from_schema_2(disk, unix_now);
}

int64_t read_aligned_until(const Disk& disk) {
  auto value = disk.get(keys::kAlignedUntil);
  if (!value) return 0;
  try {
    return std::stoll(*value);
  } catch (const std::exception&) {
    throw StoreError("store key mtasts/aligned_until holds '" + *value + "', not a number");
  }
}

}  // namespace

TimeFloor::Lease read_time_floor(const Disk& disk) {
  auto value = disk.get(keys::kTimeFloor);
  if (!value) return {};
  auto lease = TimeFloor::decode(*value);
  if (!lease) throw StoreError("store key mtasts/time_floor holds '" + *value + "', not \"<seen> <until>\" seconds");
  return *lease;
}

namespace {

int64_t read_last_change(const Disk& disk) {
  auto value = disk.get(keys::kLastChange);
  if (!value) return 0;
  try {
    return std::stoll(*value);
  } catch (const std::exception&) {
    throw StoreError("store key mtasts/last_change holds '" + *value + "', not a number");
  }
}

uint64_t read_event_seq(const Disk& disk) {
  auto seq = disk.get(keys::kEventSeq);
  if (!seq) return 0;
  try {
    return std::stoull(*seq);
  } catch (const std::exception&) {
    throw StoreError("store key mtasts/event_seq holds '" + *seq + "', not a number");
  }
}

// The approximate size of the served records, so the builder reserves its room once.
uint64_t served_records_bytes(rocksdb::DB& db) {
  const std::string from(keys::kServedPrefix);
  const rocksdb::Range range(from, rocksdb::Slice(keys::kServedEnd.data(), keys::kServedEnd.size()));
  uint64_t bytes = 0;
  rocksdb::SizeApproximationOptions approximation;
  approximation.include_memtables = true;
  if (!db.GetApproximateSizes(approximation, db.DefaultColumnFamily(), &range, 1, &bytes).ok()) return 0;
  return bytes;
}

// Keys that cut the served records into up to `parts` ranges of about equal size on disk
// (first keys of the table files holding them), the range's start first and its end
// last. A small store is one range.
std::vector<std::string> served_ranges(rocksdb::DB& db, size_t parts, uint64_t served_bytes) {
  const std::string from(keys::kServedPrefix), to(keys::kServedEnd);
  std::vector<std::string> bounds{from};
  if (parts > 1 && served_bytes >= kParallelLoadBytes) {
    std::vector<rocksdb::LiveFileMetaData> files;
    db.GetLiveFilesMetaData(&files);
    std::vector<std::pair<std::string, uint64_t>> starts;  // a file's first served key, its size
    uint64_t total = 0;
    for (const auto& file : files) {
      if (file.largestkey < from || file.smallestkey >= to) continue;
      starts.emplace_back(std::max(file.smallestkey, from), file.size);
      total += file.size;
    }
    std::sort(starts.begin(), starts.end());
    uint64_t before = 0;
    for (const auto& [key, bytes] : starts) {
      if (bounds.size() < parts && before >= total / parts * bounds.size() && key > bounds.back())
        bounds.push_back(key);
      before += bytes;
    }
  }
  bounds.push_back(to);
  return bounds;
}

// What one loading thread found besides the entries.
struct RangeLoad {
  int64_t newest_change = 0;
  std::set<std::string> pending;
  std::string error;     // why the range could not be read
  bool damaged = false;  // because a block's checksum or contents were wrong
};

// Reads the served records in [from, to) into `part`: one sequential scan.
void load_range(rocksdb::DB& db, const std::string& from, const std::string& to, ServedIndexBuilder::Part& part,
                RangeLoad& out) {
  Facts facts;
  rocksdb::ReadOptions options;
  // Every block read is checked against its checksum (the default, kept): what DNS answers
  // is verified here, and the rest of the store in the background (checksum_verification.h).
  options.verify_checksums = true;
  options.fill_cache = false;        // read once: do not evict what later reads need
  options.readahead_size = 4 << 20;  // large sequential reads
  const rocksdb::Slice upper(to);
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(options));
  for (it->Seek(from); it->Valid(); it->Next()) {
    const auto key = it->key();
    const std::string_view domain(key.data() + keys::kServedPrefix.size(), key.size() - keys::kServedPrefix.size());
    if (!decode_served_record(domain, std::string_view(it->value().data(), it->value().size()), facts) ||
        !part.add(domain, facts)) {
      out.error = "store record " + key.ToString() + " is corrupt (not a served record of a domain)";
      return;
    }
    out.newest_change = std::max({out.newest_change, facts.txt_changed_at, facts.settings_changed_at, facts.created_at});
    if (facts.pending) out.pending.emplace(domain);
  }
  if (!it->status().ok()) {
    out.damaged = it->status().IsCorruption();
    out.error = (out.damaged ? "" : "store scan failed: ") + it->status().ToString();
  }
}

// Builds the whole index from the served records: a sequential scan of each of up to
// two key ranges, one thread each (both cores; start-up at 10M domains is mostly this).
void load_index(const Disk& disk, ServedIndex& index, LoadedStore& loaded) {
  rocksdb::DB& db = disk.db();
  const uint64_t served_bytes = served_records_bytes(db);
  const auto bounds = served_ranges(db, kLoadThreads, served_bytes);
  const size_t parts = bounds.size() - 1;
  ServedIndexBuilder builder(parts, served_bytes);
  std::vector<RangeLoad> ranges(parts);
  {
    std::vector<std::jthread> threads;
    for (size_t i = 1; i < parts; ++i)
      threads.emplace_back([&, i] { load_range(db, bounds[i], bounds[i + 1], builder.part(i), ranges[i]); });
    load_range(db, bounds[0], bounds[1], builder.part(0), ranges[0]);
  }
  for (auto& range : ranges) {
    if (range.damaged) throw damaged_store(disk.database().folder(), range.error);
    if (!range.error.empty()) throw StoreError(range.error);
    loaded.newest_change = std::max(loaded.newest_change, range.newest_change);
    loaded.pending.merge(range.pending);
  }
  builder.build_into(index);
  // The loading buffers (hundreds of MiB at 10M domains) were freed, partly inside the
  // heaps of both threads' malloc arenas: give those pages back now, not when (if ever)
  // the top of each heap is freed.
  heap::release_free_memory();
}

}  // namespace

LoadedStore load_store(const Disk& disk, ServedIndex& index, int64_t unix_now) {
  check_schema(disk, unix_now);
  LoadedStore loaded;
  loaded.event_seq = read_event_seq(disk);
  loaded.aligned_until = read_aligned_until(disk);
  const auto started = std::chrono::steady_clock::now();
  loaded.newest_change = read_last_change(disk);
  load_index(disk, index, loaded);
  log::f(log::Level::Info, "mtasts: served index of %zu domains loaded in %.2f s", index.count(),
         std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  // What DNS answers was checked as it was read; the rest now, behind the first answer.
  disk.database().verify_checksums_in_background();
  return loaded;
}

}  // namespace stsd::store
