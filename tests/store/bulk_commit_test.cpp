// A large write committed as a table file (store/bulk_commit.h) over a real RocksDB: it
// keeps every guarantee of a synced WriteBatch (all or nothing, ordered after earlier
// writes, invisible to earlier snapshots, refused by a read-only store) and leaves the
// store exactly as the WriteBatch would have.
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/iterator.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/write_batch.h>

#include <gtest/gtest.h>

#include "clock.h"
#include "store/bulk_commit.h"
#include "store/database.h"
#include "store/disk.h"
#include "store/errors.h"
#include "store/policy_store.h"
#include "temp_dir.h"

namespace stsd::store {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr int64_t kStart = 1735689600;  // 2025-01-01T00:00:00Z

// A store's folder, made by Database::open inside a folder of the test's own.
class StoreFolder {
 public:
  const fs::path& path() const { return path_; }

 private:
  test::TempDir dir_{"bulk-test"};
  fs::path path_ = dir_.fresh_path("store");
};

std::map<std::string, std::string> contents(rocksdb::DB& db, const rocksdb::Snapshot* snapshot = nullptr) {
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(options));
  std::map<std::string, std::string> all;
  for (it->SeekToFirst(); it->Valid(); it->Next()) all.emplace(it->key().ToString(), it->value().ToString());
  EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  return all;
}

std::vector<std::string> ingest_files(const fs::path& folder) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string().starts_with(kIngestFilePrefix)) found.push_back(entry.path().string());
  return found;
}

uint64_t memtable_entries(rocksdb::DB& db) {
  uint64_t entries = 0;
  db.GetIntProperty(rocksdb::DB::Properties::kNumEntriesActiveMemTable, &entries);
  return entries;
}

std::string key(int i) {
  char text[32];
  std::snprintf(text, sizeof text, "k/%06d", i);
  return text;
}

// Writes need no free space beyond what they take (tests run on any disk).
StorageOptions without_headroom() {
  StorageOptions options;
  options.min_free_bytes = 0;
  return options;
}

class BulkCommit : public ::testing::Test {
 protected:
  void open(StorageOptions options = without_headroom()) {
    database_.reset();
    database_ = Database::open(folder_.path(), std::move(options));
    disk_ = std::make_unique<Disk>(*database_);
  }
  void SetUp() override { open(); }

  StoreFolder folder_;
  std::shared_ptr<Database> database_;
  std::unique_ptr<Disk> disk_;
};

TEST_F(BulkCommit, ALargeBatchIsVisibleWholeAndNotToEarlierSnapshots) {
  rocksdb::WriteBatch small;
  small.Put("k/before", "1");
  disk_->commit(small);
  const Snapshot before(*disk_);

  rocksdb::WriteBatch large;
  const int count = static_cast<int>(kIngestMinOperations) + 10;
  for (int i = count - 1; i >= 0; --i) large.Put(key(i), "v" + std::to_string(i));  // not in key order
  const uint64_t in_memtable = memtable_entries(database_->db());
  disk_->commit(large);

  EXPECT_EQ(memtable_entries(database_->db()), in_memtable) << "written as a table file, not through the memtable";
  EXPECT_EQ(disk_->get(key(0)), "v0");
  EXPECT_EQ(disk_->get(key(count - 1)), "v" + std::to_string(count - 1));
  EXPECT_EQ(contents(database_->db()).size(), static_cast<size_t>(count) + 1);
  const auto seen_before = contents(database_->db(), before.get());
  EXPECT_EQ(seen_before.size(), 1u) << "a snapshot taken before sees nothing of it";
  EXPECT_EQ(disk_->get(key(0), before.get()), std::nullopt);
  EXPECT_TRUE(ingest_files(folder_.path()).empty());
}

TEST_F(BulkCommit, OverwritesAndDeletesApplyAndTheLastOperationOfAKeyWins) {
  rocksdb::WriteBatch earlier;
  for (int i = 0; i < 100; ++i) earlier.Put(key(i), "old");
  disk_->commit(earlier);  // in the memtable: the ingestion must come after it
  ASSERT_GT(memtable_entries(database_->db()), 0u);
  rocksdb::WriteBatch flushed;
  flushed.Put("k/flushed", "old");
  disk_->commit(flushed);
  ASSERT_TRUE(database_->db().Flush(rocksdb::FlushOptions()).ok());
  rocksdb::WriteBatch memtable;
  memtable.Put("k/memtable", "old");
  disk_->commit(memtable);

  rocksdb::WriteBatch large;
  for (int i = 0; i < 50; ++i) large.Put(key(i), "new");        // overwrites
  for (int i = 50; i < 100; ++i) large.Delete(key(i));         // deletes
  large.Delete("k/flushed");
  large.Put("k/memtable", "first");
  large.Put("k/memtable", "second");                             // the last put wins
  large.Put("k/revived", "gone");
  large.Delete("k/revived");                                     // a delete after a put wins
  large.Delete("k/back");
  large.Put("k/back", "here");                                   // a put after a delete wins
  for (int i = 1000; large.Count() < kIngestMinOperations; ++i) large.Put(key(i), "filler");
  disk_->commit(large);

  EXPECT_EQ(disk_->get(key(0)), "new");
  EXPECT_EQ(disk_->get(key(49)), "new");
  EXPECT_EQ(disk_->get(key(50)), std::nullopt);
  EXPECT_EQ(disk_->get(key(99)), std::nullopt);
  EXPECT_EQ(disk_->get("k/flushed"), std::nullopt);
  EXPECT_EQ(disk_->get("k/memtable"), "second");
  EXPECT_EQ(disk_->get("k/revived"), std::nullopt);
  EXPECT_EQ(disk_->get("k/back"), "here");

  open();  // and after a restart
  EXPECT_EQ(disk_->get(key(0)), "new");
  EXPECT_EQ(disk_->get(key(50)), std::nullopt);
  EXPECT_EQ(disk_->get("k/memtable"), "second");
  EXPECT_EQ(disk_->get("k/back"), "here");
}

TEST_F(BulkCommit, ABatchWithOtherOperationsIsWrittenTheOrdinaryWay) {
  rocksdb::WriteBatch large;
  for (int i = 0; large.Count() < kIngestMinOperations; ++i) large.Put(key(i), "v");
  large.PutLogData("not a table file's");
  large.DeleteRange("k/zz0", "k/zz9");
  disk_->commit(large);
  EXPECT_GT(memtable_entries(database_->db()), 0u);
  EXPECT_EQ(disk_->get(key(0)), "v");
}

TEST_F(BulkCommit, AReadOnlyStoreRefusesALargeBatch) {
  StorageOptions no_room;
  no_room.min_free_bytes = UINT64_MAX;  // "less free space than the minimum" at start: opened read-only
  open(no_room);
  ASSERT_TRUE(database_->read_only());
  rocksdb::WriteBatch large;
  for (int i = 0; large.Count() < kIngestMinOperations; ++i) large.Put(key(i), "v");
  EXPECT_THROW(disk_->commit(large), StoreUnavailable);
  EXPECT_EQ(disk_->get(key(0)), std::nullopt);
  EXPECT_TRUE(ingest_files(folder_.path()).empty());
}

TEST_F(BulkCommit, AFileLeftByACrashIsRemovedAtOpenAndNeverPartOfTheStore) {
  rocksdb::WriteBatch small;
  small.Put("k/kept", "1");
  disk_->commit(small);
  database_.reset();
  // What a crash between writing the table file and ingesting it leaves: a complete file.
  {
    rocksdb::Options options;
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options);
    const auto left = folder_.path() / (std::string(kIngestFilePrefix) + "4242-0.sst");
    ASSERT_TRUE(writer.Open(left.string()).ok());
    ASSERT_TRUE(writer.Put("k/never", "1").ok());
    ASSERT_TRUE(writer.Finish().ok());
    std::ofstream(folder_.path() / (std::string(kIngestFilePrefix) + "4242-1.sst")) << "cut short";
  }
  ASSERT_EQ(ingest_files(folder_.path()).size(), 2u);
  open();
  EXPECT_TRUE(ingest_files(folder_.path()).empty());
  EXPECT_EQ(disk_->get("k/kept"), "1");
  EXPECT_EQ(disk_->get("k/never"), std::nullopt);
}

// The default file system, with the table files written for ingestion failing at their
// sync (the last step before ingestion): as a disk that fills up or fails then.
class FailingIngestFiles final : public rocksdb::FileSystemWrapper {
 public:
  FailingIngestFiles() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FailingIngestFiles"; }
  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    auto status = target()->NewWritableFile(name, options, file, dbg);
    if (status.ok() && fs::path(name).filename().string().starts_with(kIngestFilePrefix))
      *file = std::make_unique<FailingSync>(std::move(*file), *this);
    return status;
  }
  std::atomic<bool> failing{true};
  std::atomic<int> failed_syncs{0};

 private:
  class FailingSync final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    FailingSync(std::unique_ptr<rocksdb::FSWritableFile> file, FailingIngestFiles& owner)
        : FSWritableFileOwnerWrapper(std::move(file)), owner_(owner) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
      return owner_.failing ? fail() : FSWritableFileOwnerWrapper::Sync(options, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
      return owner_.failing ? fail() : FSWritableFileOwnerWrapper::Fsync(options, dbg);
    }

   private:
    rocksdb::IOStatus fail() {
      ++owner_.failed_syncs;
      return rocksdb::IOStatus::NoSpace("injected: No space left on device");
    }
    FailingIngestFiles& owner_;
  };
};

Policy enforce(const std::string& mx) { return Policy{Mode::Enforce, {mx}, 604800}; }

std::vector<ImportItem> items(int from, int to, const std::string& mx) {
  std::vector<ImportItem> list;
  for (int i = from; i < to; ++i)
    list.push_back({"d" + std::to_string(i) + ".bulk.example", std::nullopt, enforce(mx)});
  return list;
}

class BulkImport : public ::testing::Test {
 protected:
  std::unique_ptr<PolicyStore> open(const StoreFolder& folder, StorageOptions options) {
    database_ = Database::open(folder.path(), std::move(options));
    return std::make_unique<PolicyStore>(database_, clock_);
  }
  // The store's options with the table files written for ingestion failing (file_system_).
  StorageOptions failing_ingest_options() {
    StorageOptions options = without_headroom();
    options.env = std::shared_ptr<rocksdb::Env>(rocksdb::NewCompositeEnv(file_system_).release());
    return options;
  }
  std::shared_ptr<Database> database_;
  std::shared_ptr<ManualClock> clock_ =
      std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kStart)));
  std::shared_ptr<FailingIngestFiles> file_system_ = std::make_shared<FailingIngestFiles>();
};

TEST_F(BulkImport, AFailureBeforeIngestionLeavesNothingAndNoFile) {
  StoreFolder folder;
  const auto options = failing_ingest_options();
  auto store = open(folder, options);
  store->import(items(0, 10, "mx.example"), true, "first");
  const uint64_t generation = store->generation();

  EXPECT_THROW(store->import(items(5, 2000, "mx2.example"), true, "second"), StoreUnavailable);
  EXPECT_GT(file_system_->failed_syncs.load(), 0);
  EXPECT_TRUE(ingest_files(folder.path()).empty()) << "the unfinished table file is removed";

  EXPECT_EQ(store->generation(), generation);
  EXPECT_EQ(store->domain_count(), 10u);
  EXPECT_FALSE(store->status("d100.bulk.example", kStart).has_value());
  EXPECT_EQ(store->status("d5.bulk.example", kStart)->staged->number, 1u);

  store.reset();  // and on disk
  database_.reset();
  file_system_->failing = false;
  store = open(folder, options);
  EXPECT_EQ(store->domain_count(), 10u);
  EXPECT_EQ(store->status("d5.bulk.example", kStart)->staged->number, 1u);
  EXPECT_EQ(store->events("d5.bulk.example", 100).size(), 1u);  // the first import's only
}

// The same writes, ingested and through ordinary WriteBatches, leave the same keys and
// values: new domains, changed ones, unchanged ones and a removed one added back.
TEST_F(BulkImport, IngestedAndOrdinaryWritesLeaveTheSameStore) {
  StoreFolder ingested_folder, ordinary_folder;
  StorageOptions ordinary_options = without_headroom();
  ordinary_options.ingest_min_operations = SIZE_MAX;
  std::map<std::string, std::string> result[2];
  for (int run = 0; run < 2; ++run) {
    clock_->set(std::chrono::system_clock::time_point(seconds(kStart)));
    auto store = run == 0 ? open(ingested_folder, without_headroom()) : open(ordinary_folder, ordinary_options);
    store->add_domain("removed.bulk.example", {});
    store->stage("removed.bulk.example", enforce("mx.example"), false);
    store->remove_domain("removed.bulk.example", RemovalCheck::Force);
    store->import(items(0, 1000, "mx.example"), false, "");
    clock_->advance(seconds(10));
    auto second = items(500, 3000, "mx.example");  // 500 unchanged, 2000 new
    for (size_t i = 0; i < 200; ++i) second[i].policy = enforce("mx2.example");  // 200 changed
    second.push_back({"removed.bulk.example", DomainSettings{{"mailto:tls@bulk.example"}, {}}, enforce("mx.example")});
    store->import(second, true, "second batch");
    EXPECT_EQ(store->status("removed.bulk.example", kStart + 10)->staged->number, 2u) << "numbering resumes";
    // A batch of 12,000 domains (72,000 operations): one table file, or the memtable.
    ASSERT_TRUE(database_->db().Flush(rocksdb::FlushOptions()).ok());
    std::vector<rocksdb::LiveFileMetaData> before, after;
    database_->db().GetLiveFilesMetaData(&before);
    store->import(items(2000, 14000, "mx3.example"), true, "third batch");  // 1000 changed, 11000 new
    database_->db().GetLiveFilesMetaData(&after);
    EXPECT_EQ(after.size(), before.size() + (run == 0 ? 1 : 0)) << "ordinary: into the memtable";
    result[run] = contents(database_->db());
    store.reset();
    database_.reset();
  }
  ASSERT_EQ(result[0].size(), result[1].size());
  for (auto a = result[0].begin(), b = result[1].begin(); a != result[0].end(); ++a, ++b) {
    ASSERT_EQ(a->first, b->first);
    EXPECT_EQ(a->second, b->second) << a->first;
  }
}

// The table file must hold its keys in order, whatever order the batch wrote them in:
// kinds interleaved with each kind nearly in order (as the store's writers write), a
// domain that sorts before another by name but after it by key ("a.example/..." after
// "a.example.net/..."), keys with no kind, repeated keys, reversed and shuffled batches.
// Each is ingested and also written as an ordinary WriteBatch; both stores must agree.
TEST(BulkCommitOrder, EveryOrderOfABatchLeavesWhatAWriteBatchLeaves) {
  std::mt19937 random(8461);
  std::vector<std::string> names;
  for (int i = 0; i < 700; ++i) names.push_back(std::string("d").append(std::to_string(i)).append(".example"));
  names.push_back("a.example");
  names.push_back("a.example.net");
  std::sort(names.begin(), names.end());
  const auto batch_of = [&](int shape) {
    std::vector<std::pair<std::string, std::optional<std::string>>> ops;  // nullopt: delete
    uint64_t seq = 0;
    for (const auto& name : names) {
      ops.emplace_back("mtasts/d/" + name, "record " + name);
      for (int e = 0; e < 3; ++e) {
        char number[24];
        std::snprintf(number, sizeof number, "%020llu", static_cast<unsigned long long>(++seq));
        ops.emplace_back("mtasts/e/" + name + "/" + number, "event");
      }
      ops.emplace_back("mtasts/v/" + name + "/0000000001", "version");
      if (random() % 50 == 0) ops.emplace_back("mtasts/n/" + name, std::nullopt);
      if (random() % 40 == 0) ops.emplace_back("mtasts/d/" + name, "record again " + name);
    }
    for (const auto& name : names) ops.emplace_back("mtasts/s/" + name, "served " + name);
    ops.emplace_back("mtasts/event_seq", std::to_string(seq));
    ops.emplace_back("mtasts/last_change", "1");
    if (shape == 1) std::reverse(ops.begin(), ops.end());
    if (shape == 2) std::shuffle(ops.begin(), ops.end(), random);
    if (shape == 3)  // a few out of place
      for (int i = 0; i < 40; ++i) std::swap(ops[random() % ops.size()], ops[random() % ops.size()]);
    rocksdb::WriteBatch batch;
    for (const auto& [key, value] : ops) {
      if (value)
        batch.Put(key, *value);
      else
        batch.Delete(key);
    }
    return batch;
  };
  for (int shape = 0; shape < 4; ++shape) {
    const rocksdb::WriteBatch written = batch_of(shape);
    std::map<std::string, std::string> result[2];
    for (int ingested = 0; ingested < 2; ++ingested) {
      StoreFolder folder;
      StorageOptions options = without_headroom();
      options.ingest_min_operations = ingested ? 0 : SIZE_MAX;
      auto database = Database::open(folder.path(), options);
      Disk disk(*database);
      rocksdb::WriteBatch earlier;
      for (const auto& name : names) earlier.Put("mtasts/n/" + name, "3");
      disk.commit(earlier);
      rocksdb::WriteBatch batch = written;
      disk.commit(batch);
      result[ingested] = contents(database->db());
    }
    EXPECT_EQ(result[0], result[1]) << "shape " << shape;
    EXPECT_GT(result[0].size(), 5 * names.size());
  }
}

}  // namespace
}  // namespace stsd::store
