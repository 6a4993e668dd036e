#include "store/bulk_commit.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/write_batch.h>

#include "logging.h"

namespace stsd::store {

namespace fs = std::filesystem;

namespace {

struct Operation {
  rocksdb::Slice key;
  rocksdb::Slice value;
  bool erase;
};

// The batch's operations in batch order; `supported` turns false at anything a table
// file cannot say the same way (merges, range or single deletes, other column families,
// log data, transaction markers).
class Operations final : public rocksdb::WriteBatch::Handler {
 public:
  explicit Operations(size_t expected) { list.reserve(expected); }

  rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice& key, const rocksdb::Slice& value) override {
    if (family != 0) return unsupported();
    list.push_back({key, value, false});
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t family, const rocksdb::Slice& key) override {
    if (family != 0) return unsupported();
    list.push_back({key, rocksdb::Slice(), true});
    return rocksdb::Status::OK();
  }
  rocksdb::Status PutEntityCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return unsupported();
  }
  rocksdb::Status SingleDeleteCF(uint32_t, const rocksdb::Slice&) override { return unsupported(); }
  rocksdb::Status DeleteRangeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return unsupported();
  }
  rocksdb::Status MergeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override { return unsupported(); }
  rocksdb::Status PutBlobIndexCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return unsupported();
  }
  void LogData(const rocksdb::Slice&) override { supported = false; }
  rocksdb::Status MarkBeginPrepare(bool) override { return unsupported(); }
  rocksdb::Status MarkEndPrepare(const rocksdb::Slice&) override { return unsupported(); }
  rocksdb::Status MarkNoop(bool) override { return unsupported(); }
  rocksdb::Status MarkRollback(const rocksdb::Slice&) override { return unsupported(); }
  rocksdb::Status MarkCommit(const rocksdb::Slice&) override { return unsupported(); }
  rocksdb::Status MarkCommitWithTimestamp(const rocksdb::Slice&, const rocksdb::Slice&) override {
    return unsupported();
  }
  bool Continue() override { return supported; }

  // Sorted by key, one operation per key: the batch's last (what a WriteBatch leaves).
  void sort_last_wins() {
    std::stable_sort(list.begin(), list.end(),
                     [](const Operation& a, const Operation& b) { return a.key.compare(b.key) < 0; });
    size_t kept = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      if (i + 1 < list.size() && list[i + 1].key == list[i].key) continue;  // a later one wins
      list[kept++] = list[i];
    }
    list.resize(kept);
  }

  std::vector<Operation> list;
  bool supported = true;

 private:
  rocksdb::Status unsupported() {
    supported = false;
    return rocksdb::Status::NotSupported("not ingestible");
  }
};

// A name no other writer of the folder uses: this process's id and a counter.
fs::path ingest_file_name(const fs::path& folder) {
  static std::atomic<uint64_t> counter{0};
  return folder / (std::string(kIngestFilePrefix) + std::to_string(::getpid()) + "-" +
                   std::to_string(counter.fetch_add(1)) + ".sst");
}

// Writes `operations` into a new table file at `path`, synced (SstFileWriter::Finish
// syncs it). The database's own options: its table format, compression and bloom filter,
// and its file system (tests inject faults through it).
rocksdb::Status write_table(rocksdb::DB& db, const fs::path& path, const std::vector<Operation>& operations) {
  const rocksdb::Options options = db.GetOptions();
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(options), options, db.DefaultColumnFamily());
  auto status = writer.Open(path.string());
  for (auto it = operations.begin(); status.ok() && it != operations.end(); ++it)
    status = it->erase ? writer.Delete(it->key) : writer.Put(it->key, it->value);
  if (status.ok()) status = writer.Finish();
  return status;
}

}  // namespace

std::optional<std::string> ingest_batch(rocksdb::DB& db, const fs::path& folder, const rocksdb::WriteBatch& batch) {
  Operations operations(batch.Count());
  const auto read = batch.Iterate(&operations);
  if (!operations.supported) return std::nullopt;
  if (!read.ok()) return "reading the batch: " + read.ToString();
  operations.sort_last_wins();

  const fs::path path = ingest_file_name(folder);
  auto status = write_table(db, path, operations.list);
  if (status.ok()) {
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;            // a hard link: the file is in the database's folder
    ingest.snapshot_consistency = true;  // earlier snapshots do not see it
    ingest.allow_global_seqno = true;    // it may overwrite existing keys: it gets a sequence number
    ingest.allow_blocking_flush = true;  // a memtable holding keys of its range is flushed first
    ingest.write_global_seqno = false;   // kept in the MANIFEST; the synced file stays untouched
    status = db.IngestExternalFile({path.string()}, ingest);
  }
  // Moved into the database on success (RocksDB removes this name); else never part of it.
  std::error_code ignored;
  fs::remove(path, ignored);
  return status.ok() ? std::string() : "ingesting a table file of " + std::to_string(batch.Count()) +
                                           " operations: " + status.ToString();
}

size_t remove_leftover_ingest_files(const fs::path& folder) {
  size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(kIngestFilePrefix) || !name.ends_with(".sst")) continue;
    std::error_code failed;
    if (fs::remove(entry.path(), failed))
      ++removed;
    else if (failed)
      log::f(log::Level::Warning, "store: cannot remove %s, left by an import cut short: %s", entry.path().c_str(),
             failed.message().c_str());
  }
  if (removed)
    log::f(log::Level::Warning, "store: removed %zu table files in %s left by an import cut short (never part of "
           "the store)", removed, folder.c_str());
  return removed;
}

}  // namespace stsd::store
