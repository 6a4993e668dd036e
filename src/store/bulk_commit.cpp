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

bool before(const Operation& a, const Operation& b) { return a.key.compare(b.key) < 0; }

// A key's kind: up to its second '/' ("mtasts/e/"), else the whole key ("mtasts/event_seq").
rocksdb::Slice kind_of(const rocksdb::Slice& key) {
  const std::string_view text(key.data(), key.size());
  const size_t first = text.find('/');
  const size_t second = first == std::string_view::npos ? first : text.find('/', first + 1);
  return second == std::string_view::npos ? key : rocksdb::Slice(key.data(), second + 1);
}

// Stable: an operation moves only past greater keys, so a key's operations keep their
// order. Insertion while the moves stay within a few per operation, then a full sort.
void sort_nearly_sorted(std::vector<Operation>::iterator first, std::vector<Operation>::iterator last) {
  size_t moves = 0;
  const size_t budget = 4 * static_cast<size_t>(last - first) + 64;
  for (auto i = first + (first != last); i < last; ++i) {
    if (!before(*i, *(i - 1))) continue;
    const Operation moving = *i;
    auto j = i;
    for (; j > first && before(moving, *(j - 1)) && moves < budget; --j, ++moves) *j = *(j - 1);
    *j = moving;
    if (moves >= budget) {
      std::stable_sort(first, last, before);
      return;
    }
  }
}

// Groups `ops` by kind, the kinds in key order and each group in batch order, and sorts
// each group; false, with `ops` untouched, when there are more than 255 kinds (not a
// store's batch).
bool sort_by_kind(std::vector<Operation>& ops) {
  std::vector<rocksdb::Slice> kinds;
  std::vector<uint8_t> kind(ops.size());  // each operation's, as an index into `kinds`
  for (size_t i = 0; i < ops.size(); ++i) {
    const rocksdb::Slice k = kind_of(ops[i].key);
    const auto known = std::find(kinds.begin(), kinds.end(), k);
    if (known == kinds.end() && kinds.size() == 255) return false;
    kind[i] = static_cast<uint8_t>(known - kinds.begin());
    if (known == kinds.end()) kinds.push_back(k);
  }
  std::vector<uint8_t> in_order(kinds.size());
  for (size_t k = 0; k < kinds.size(); ++k) in_order[k] = static_cast<uint8_t>(k);
  std::sort(in_order.begin(), in_order.end(), [&](uint8_t a, uint8_t b) { return kinds[a].compare(kinds[b]) < 0; });
  std::vector<size_t> rank(kinds.size());
  for (size_t r = 0; r < in_order.size(); ++r) rank[in_order[r]] = r;
  // A counting sort by rank: where each group starts, then each operation in its place.
  std::vector<size_t> start(kinds.size() + 1, 0);
  for (size_t i = 0; i < ops.size(); ++i) ++start[rank[kind[i]] + 1];
  for (size_t r = 1; r < start.size(); ++r) start[r] += start[r - 1];
  std::vector<Operation> grouped(ops.size());
  std::vector<size_t> next(start.begin(), start.end() - 1);
  for (size_t i = 0; i < ops.size(); ++i) grouped[next[rank[kind[i]]]++] = ops[i];
  for (size_t r = 0; r + 1 < start.size(); ++r)
    sort_nearly_sorted(grouped.begin() + static_cast<std::ptrdiff_t>(start[r]),
                       grouped.begin() + static_cast<std::ptrdiff_t>(start[r + 1]));
  ops.swap(grouped);
  return true;
}

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
  // A writer interleaves keys of a few kinds ("mtasts/d/...", "mtasts/e/...") and walks
  // its domains in order, so each kind's keys come nearly sorted: they are grouped by
  // kind and each group is sorted by insertion while that stays cheap (a full sort of an
  // import's operations took 5 % of its CPU).
  void sort_last_wins() {
    // Kinds never interleave in key order (each ends at a '/' or is a whole key); checked,
    // as the one thing a table file must get right.
    if (!sort_by_kind(list) || !std::is_sorted(list.begin(), list.end(), before))
      std::stable_sort(list.begin(), list.end(), before);
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
// syncs it). The database's own options: its table format and bloom filter, and its file
// system (tests inject faults through it); but no compression: the file lands in level 0,
// whose files the next compaction reads and writes again, compressed, into level 1, so
// compressing it here is work done twice (a third of writing an import's table file).
rocksdb::Status write_table(rocksdb::DB& db, const fs::path& path, const std::vector<Operation>& operations) {
  rocksdb::Options options = db.GetOptions();
  options.compression = rocksdb::kNoCompression;
  // The page cache keeps what is written: the next compaction reads the file soon.
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(options), options, db.DefaultColumnFamily(),
                                /*invalidate_page_cache=*/false);
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
