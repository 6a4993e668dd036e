// The background verification of every table file's checksums (store/checksum_verification.h)
// over a real RocksDB in a temporary folder: a store whose damage lies outside what DNS
// answers opens and serves, then refuses writes for good naming the file; an intact store
// is verified and keeps accepting writes; closing the store while it verifies is prompt
// and clean (also under the asan preset); damage in the served records still stops the
// start.
#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <thread>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/table_properties.h>
#include <rocksdb/write_batch.h>

#include <gtest/gtest.h>

#include "clock.h"
#include "environment.h"
#include "property_support.h"
#include "store/database.h"
#include "store/errors.h"
#include "store/keys.h"
#include "store/policy_id.h"
#include "store/policy_store.h"
#include "store/served_record.h"
#include "temp_store.h"

namespace stsd::store {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::as_wire;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<fs::path> table_files(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().extension() == ".sst") files.push_back(entry.path());
  std::sort(files.begin(), files.end());  // RocksDB numbers its files in order
  return files;
}

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Overwrites 16 bytes in the middle of the first half of `file`'s data blocks (RocksDB
// writes the data blocks first, then the index, filter and properties blocks).
void damage_data_block(const fs::path& file) {
  rocksdb::SstFileReader reader{rocksdb::Options()};
  ASSERT_TRUE(reader.Open(file.string()).ok()) << file;
  const uint64_t data_size = reader.GetTableProperties()->data_size;
  ASSERT_GT(data_size, 16u << 10) << "several data blocks, the last one (other keys) left alone";
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(data_size / 4));
  const std::string bytes(16, '\x5a');
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Policy enforce() { return Policy{Mode::Enforce, {"mx.example.net"}, 86400}; }

// Polls `condition` for up to `limit`.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

bool verification_ended(const PolicyStore& store) {
  return store.health().checksums.state != ChecksumCheck::State::verifying;
}

// A file system whose reads on the verification's thread (named "stsd-checksums") take
// 300 ms each: it is still verifying when the test closes the store. Everything else
// reads at full speed.
class SlowVerificationFile final : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  using FSRandomAccessFileOwnerWrapper::FSRandomAccessFileOwnerWrapper;
  rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& options, rocksdb::Slice* result,
                         char* scratch, rocksdb::IODebugContext* dbg) const override {
    char name[16] = {};
    ::pthread_getname_np(::pthread_self(), name, sizeof name);
    if (std::string_view(name) == "stsd-checksums") std::this_thread::sleep_for(milliseconds(300));
    return FSRandomAccessFileOwnerWrapper::Read(offset, n, options, result, scratch, dbg);
  }
};

class SlowVerificationFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  SlowVerificationFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "SlowVerificationFileSystem"; }
  rocksdb::IOStatus NewRandomAccessFile(const std::string& name, const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* file,
                                        rocksdb::IODebugContext* dbg) override {
    auto status = target()->NewRandomAccessFile(name, options, file, dbg);
    if (status.ok()) *file = std::make_unique<SlowVerificationFile>(std::move(*file));
    return status;
  }
};

// No free-space minimum: the machine's free space does not decide what is tested.
StorageOptions no_minimum() {
  StorageOptions options;
  options.min_free_bytes = 0;
  return options;
}

class ChecksumVerificationTest : public ::testing::Test {
 protected:
  // stsd runs under umask 077 (src/main): the store's files are private from the start.
  ChecksumVerificationTest() : umask_before_(::umask(077)) {}
  ~ChecksumVerificationTest() override { ::umask(umask_before_); }
  fs::path folder() const { return scratch_.dir() / "storage"; }

  // `domains` confirmed domains in one table file, then `events` events of the first one
  // alone in the next (the newest) table file, which is returned.
  fs::path served_then_events(size_t domains, size_t events) {
    auto database = Database::open(folder(), no_minimum());
    PolicyStore store(database, clock_);
    std::vector<ImportItem> items;
    for (size_t i = 0; i < domains; ++i)
      items.push_back({"d" + std::to_string(i) + ".example", std::nullopt, enforce()});
    store.import(items, /*confirm_now=*/true, "test");
    EXPECT_TRUE(database->db().Flush(rocksdb::FlushOptions()).ok());
    for (size_t i = 0; i < events; ++i) {
      std::string detail = "probe " + std::to_string(i) + ":";
      for (size_t j = 0; j < 40; ++j) detail += std::to_string((i * 7919 + j * 104729) % 9973);
      store.record_event("d0.example", "probe_failed", 1, detail);
    }
    EXPECT_TRUE(database->db().Flush(rocksdb::FlushOptions()).ok());
    const auto files = table_files(folder());
    EXPECT_EQ(files.size(), 2u);
    return files.empty() ? fs::path() : files.back();
  }

  const mode_t umask_before_;
  std::shared_ptr<ManualClock> clock_ =
      std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(1'800'000'000)));
  test_support::TempStore scratch_;
};

TEST_F(ChecksumVerificationTest, DamageOutsideTheServedRecordsServesThenRefusesWritesNamingTheFile) {
  const fs::path events_file = served_then_events(50, 400);
  damage_data_block(events_file);
  const std::string damaged_bytes = contents(events_file);

  testing::internal::CaptureStderr();
  {
    auto database = Database::open(folder(), no_minimum());
    PolicyStore store(database, clock_);
    // Served first: the index was loaded from the intact served records.
    EXPECT_EQ(store.domain_count(), 50u);
    for (const auto* domain : {"d0.example", "d49.example"}) {
      const auto view = store.served_wire(as_wire(domain));
      ASSERT_TRUE(view) << domain;
      EXPECT_EQ(view.confirmed_version(), 1u) << domain;
      ASSERT_TRUE(store.served(domain)) << domain << ": its records are read from disk too";
    }

    ASSERT_TRUE(eventually([&] { return verification_ended(store); })) << "verified within seconds";
    const StoreHealth health = store.health();
    EXPECT_EQ(health.checksums.state, ChecksumCheck::State::damaged);
    EXPECT_EQ(health.checksums.file, events_file.string());
    EXPECT_FALSE(health.writable);
    EXPECT_GT(health.failed_since, 0);
    EXPECT_TRUE(contains(health.reason, "the checksum verification found damage in " + events_file.string()))
        << health.reason;
    EXPECT_TRUE(contains(health.reason, "Corruption")) << health.reason;
    EXPECT_TRUE(contains(health.reason, "docs/backups.md")) << health.reason;

    try {
      store.add_domain("after.example", {});
      ADD_FAILURE() << "a write was accepted by a damaged store";
    } catch (const StoreUnavailable& e) {
      EXPECT_TRUE(contains(e.what(), "refuses writes (nothing changed)")) << e.what();
      EXPECT_TRUE(contains(e.what(), events_file.string())) << e.what();
      EXPECT_FALSE(contains(e.what(), "resume by themselves")) << e.what();
    }
    EXPECT_FALSE(store.has_domain("after.example"));

    // Sticky: the recovery that cures other faults (1 s, 2 s ... apart) does not clear it.
    std::this_thread::sleep_for(milliseconds(2500));
    EXPECT_THROW(store.add_domain("later.example", {}), StoreUnavailable);
    EXPECT_FALSE(store.health().writable);
    EXPECT_EQ(store.health().recoveries, 0u);
    EXPECT_EQ(store.health().refused_writes, 2u);
    EXPECT_TRUE(store.served_wire(as_wire("d7.example"))) << "DNS keeps answering";
  }
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, "[error] store: the checksum verification found damage in " + events_file.string())) << log;

  // Left as it was, for the operator (RocksDB may have rewritten other files meanwhile, as
  // it does: an intact file with deletions at the bottom of the tree is compacted at open).
  ASSERT_TRUE(fs::exists(events_file));
  EXPECT_TRUE(contents(events_file) == damaged_bytes) << "the damaged file was changed";

  // A restart does not cure it either: it serves, and finds the damage again.
  auto database = Database::open(folder(), no_minimum());
  PolicyStore store(database, clock_);
  EXPECT_EQ(store.domain_count(), 50u);
  ASSERT_TRUE(eventually([&] { return verification_ended(store); }));
  EXPECT_EQ(store.health().checksums.state, ChecksumCheck::State::damaged);
}

TEST_F(ChecksumVerificationTest, AnIntactStoreIsVerifiedAndKeepsAcceptingWrites) {
  served_then_events(50, 400);
  uint64_t bytes = 0;
  for (const auto& file : table_files(folder())) bytes += fs::file_size(file);

  testing::internal::CaptureStderr();
  auto database = Database::open(folder(), no_minimum());
  PolicyStore store(database, clock_);
  ASSERT_TRUE(eventually([&] { return verification_ended(store); }));
  const StoreHealth health = store.health();
  EXPECT_EQ(health.checksums.state, ChecksumCheck::State::verified);
  EXPECT_EQ(health.checksums.files, 2u);
  EXPECT_EQ(health.checksums.verified_files, 2u);
  EXPECT_EQ(health.checksums.bytes, bytes);
  EXPECT_GT(health.checksums.at, 0);
  EXPECT_TRUE(health.writable) << health.reason;
  store.add_domain("after.example", {});
  EXPECT_TRUE(store.has_domain("after.example"));
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, "store: checksums of 2 table files (")) << log;
}

TEST_F(ChecksumVerificationTest, ABorrowedDatabaseIsNotVerified) {
  PolicyStore store(scratch_.db(), clock_);
  EXPECT_EQ(store.health().checksums.state, ChecksumCheck::State::not_run);
  EXPECT_TRUE(store.health().writable);
}

TEST_F(ChecksumVerificationTest, ClosingWhileVerifyingIsPromptAndClean) {
  served_then_events(300, 600);
  StorageOptions options;
  options.min_free_bytes = 0;
  options.env =
      std::shared_ptr<rocksdb::Env>(rocksdb::NewCompositeEnv(std::make_shared<SlowVerificationFileSystem>()).release());
  for (int round = 0; round < 3; ++round) {
    testing::internal::CaptureStderr();
    auto database = Database::open(folder(), options);
    auto store = std::make_unique<PolicyStore>(database, clock_);
    std::this_thread::sleep_for(milliseconds(100 * round));
    EXPECT_EQ(store->health().checksums.state, ChecksumCheck::State::verifying) << "round " << round;
    EXPECT_TRUE(store->served_wire(as_wire("d299.example")));
    const auto closing = std::chrono::steady_clock::now();
    store.reset();
    database.reset();
    const auto took = std::chrono::steady_clock::now() - closing;
    EXPECT_LT(took, milliseconds(1500)) << "waits for at most one read in progress; round " << round;
    const std::string log = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(contains(log, "checksum verification stopped after")) << log;
    EXPECT_FALSE(contains(log, "damage")) << "stopping is not damage: " << log;
  }
  // Nothing was harmed: it opens and verifies at full speed.
  auto database = Database::open(folder(), no_minimum());
  PolicyStore store(database, clock_);
  ASSERT_TRUE(eventually([&] { return verification_ended(store); }));
  EXPECT_EQ(store.health().checksums.state, ChecksumCheck::State::verified);
}

TEST_F(ChecksumVerificationTest, ClosingTheEnvironmentRightAfterOpeningIsClean) {
  served_then_events(300, 600);
  for (int round = 0; round < 3; ++round) {
    Environment env(scratch_.dir(), folder(), nullptr, false);
    auto store = PolicyStore::open(env);
    EXPECT_EQ(store->domain_count(), 300u);
  }  // the store, its database and the verification close with the environment
}

// What DNS answers is checked before it is served: damage in the served records stops the
// start (the start-up scan reads them with their checksums), naming the file and the way out.
TEST_F(ChecksumVerificationTest, DamagedServedRecordsStopTheStart) {
  {
    auto database = Database::open(folder(), no_minimum());
    rocksdb::WriteBatch batch;
    batch.Put(std::string(keys::kSchema), std::to_string(PolicyStore::kSchemaVersion));
    for (int i = 0; i < 2000; ++i) {
      const std::string domain = "served" + std::to_string(i) + ".example";
      Facts facts;
      facts.confirmed = true;
      facts.version = 1;
      const uint32_t hash = rotation_hash(domain);
      facts.digest = {static_cast<uint8_t>(hash),
                      static_cast<uint8_t>(hash >> 8),
                      static_cast<uint8_t>(hash >> 16),
                      static_cast<uint8_t>(hash >> 24),
                      0,
                      1};
      facts.txt_changed_at = facts.settings_changed_at = facts.created_at = 1'800'000'000;
      facts.rotation_hash = hash;
      batch.Put(keys::served(domain), encode_served_record(facts));
    }
    ASSERT_TRUE(database->db().Write(rocksdb::WriteOptions(), &batch).ok());
    ASSERT_TRUE(database->db().Flush(rocksdb::FlushOptions()).ok());
  }
  const auto files = table_files(folder());
  ASSERT_EQ(files.size(), 1u);
  damage_data_block(files.front());
  try {
    PolicyStore store(Database::open(folder(), no_minimum()), clock_);
    ADD_FAILURE() << "started on damaged served records";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_TRUE(contains(message, "storage " + folder().string() + ": the store is damaged: Corruption")) << message;
    EXPECT_TRUE(contains(message, files.front().string())) << message;
    EXPECT_TRUE(contains(message, "restore it from a backup (docs/backups.md)")) << message;
  }
}

}  // namespace
}  // namespace stsd::store
