// Online backups (store/backup.h): a backup taken while other threads write holds every
// write acknowledged before it and whole writes only, opens as a store, and says what it
// holds; a folder no backup may go to is refused before anything is written; what a
// backup cut short leaves is never named DIR and is cleaned up.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "clock.h"
#include "store/database.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::store {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr int64_t kStart = 1735689600;  // 2025-01-01T00:00:00Z

Policy enforce(int n) { return Policy{Mode::Enforce, {"mx" + std::to_string(n) + ".example.com"}, 604800}; }

// Built piece by piece: GCC 12 warns falsely (-Wrestrict, bug 105329) on "..." + string&&.
std::string writer_domain(int writer, int n) {
  std::string name = "w";
  name += std::to_string(writer);
  name += "d";
  name += std::to_string(n);
  name += ".example";
  return name;
}

std::vector<std::string> entries(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class Backup : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kStart)));
    store_ = std::make_unique<PolicyStore>(disk_.db(), clock_);
    fs::create_directories(backups());
  }
  fs::path backups() const { return disk_.dir() / "backups"; }
  fs::path store_folder() const { return disk_.dir() / "db"; }
  // The backup in `folder`, opened as stsd opens a store.
  std::unique_ptr<PolicyStore> open_backup(const fs::path& folder) {
    StorageOptions options;
    options.min_free_bytes = 0;
    return std::make_unique<PolicyStore>(Database::open(folder, options), clock_);
  }
  uint64_t newest_event(const PolicyStore& store) {
    uint64_t newest = 0;
    for (const auto& domain : store.domains()) {
      const auto events = store.events(domain, 1);
      if (!events.empty()) newest = std::max(newest, events.front().seq);
    }
    return newest;
  }

  test_support::TempStore disk_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PolicyStore> store_;
};

TEST_F(Backup, UnderConcurrentWritesHoldsWholeWritesAndEveryAcknowledgedOne) {
  constexpr int kWriters = 3, kDomainsEach = 4, kBackups = 8;
  std::mutex log_mutex;
  std::map<std::string, uint32_t> acknowledged;  // newest staged version each writer saw returned
  for (int w = 0; w < kWriters; ++w)
    for (int d = 0; d < kDomainsEach; ++d) {
      const std::string domain = writer_domain(w, d);
      store_->add_domain(domain, {});
      acknowledged[domain] = 0;
    }
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int n = 1; !stop.load(); ++n) {
        const std::string domain = writer_domain(w, n % kDomainsEach);
        const auto staged = store_->stage(domain, enforce(n), false);
        std::lock_guard lock(log_mutex);
        acknowledged[domain] = staged.version;
      }
    });
  }
  std::vector<std::pair<BackupResult, std::map<std::string, uint32_t>>> taken;
  fs::create_directories(backups() / "many");
  for (int b = 0; b < kBackups; ++b) {
    std::map<std::string, uint32_t> before;
    {
      std::lock_guard lock(log_mutex);
      before = acknowledged;
    }
    taken.emplace_back(store_->backup(backups() / "many" / std::to_string(b)), before);
  }
  stop = true;
  for (auto& writer : writers) writer.join();

  uint64_t previous_seq = 0;
  for (const auto& [result, before] : taken) {
    SCOPED_TRACE(result.dir.string());
    EXPECT_GE(result.event_seq, previous_seq);
    previous_seq = result.event_seq;
    auto restored = open_backup(result.dir);
    EXPECT_EQ(restored->domain_count(), result.domains);
    EXPECT_EQ(result.domains, acknowledged.size());
    EXPECT_EQ(newest_event(*restored), result.event_seq) << "the answer names the backup's newest event";
    for (const auto& [domain, version] : before) {
      const auto status = restored->status(domain, kStart);
      ASSERT_TRUE(status);
      const uint32_t held = status->staged ? status->staged->number : 0;
      EXPECT_GE(held, version) << domain << ": a write acknowledged before the backup is missing";
      for (uint32_t v = 1; v <= held; ++v)  // every version up to the newest, each whole
        EXPECT_EQ(restored->version(domain, v)->policy.mx.size(), 1u) << domain << " v" << v;
    }
  }
}

TEST_F(Backup, RefusesFoldersNoBackupMayGoToAndWritesNothing) {
  fs::create_directories(backups() / "full");
  std::ofstream(backups() / "full" / "keep.txt") << "mine\n";
  std::ofstream(backups() / "a-file") << "x";
  struct Case {
    fs::path dir;
    BackupError::Kind kind;
    std::string words;
  };
  const std::vector<Case> cases = {
      {"", BackupError::Kind::BadFolder, "no folder given"},
      {"relative/b", BackupError::Kind::BadFolder, "not an absolute path"},
      {"/", BackupError::Kind::BadFolder, "the root folder"},
      {backups() / "missing" / "b", BackupError::Kind::BadFolder, "does not exist (create it first)"},
      {backups() / "a-file", BackupError::Kind::BadFolder, "exists and is not a folder"},
      {backups() / "full", BackupError::Kind::FolderNotEmpty, "exists and is not empty"},
      {store_folder(), BackupError::Kind::BadFolder, "inside the store's folder"},
      {store_folder() / "b", BackupError::Kind::BadFolder, "inside the store's folder"},
      {store_folder() / ".." / "db" / "b", BackupError::Kind::BadFolder, "inside the store's folder"},
  };
  const auto before = entries(backups());
  const auto store_before = entries(store_folder());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dir.string());
    try {
      store_->backup(c.dir);
      ADD_FAILURE() << "accepted";
    } catch (const BackupError& error) {
      EXPECT_EQ(error.kind(), c.kind);
      EXPECT_NE(std::string(error.what()).find(c.words), std::string::npos) << error.what();
    }
    EXPECT_EQ(entries(backups()), before);
    EXPECT_EQ(entries(store_folder()), store_before);
  }
  EXPECT_EQ(entries(backups() / "full"), std::vector<std::string>{"keep.txt"});
}

TEST_F(Backup, AnEmptyFolderIsTakenAndAPartialOneFromACrashReplaced) {
  store_->add_domain("example.com", {});
  fs::create_directories(backups() / "empty");
  fs::create_directories(backups() / ".b.stsd-backup-partial");  // a backup to b cut short
  std::ofstream(backups() / ".b.stsd-backup-partial" / "000001.log") << "torn";
  for (const char* name : {"empty", "b"}) {
    const auto result = store_->backup(backups() / name);
    EXPECT_EQ(result.dir, backups() / name);
    EXPECT_EQ(result.domains, 1u);
    EXPECT_GT(result.bytes, 0u);
    EXPECT_TRUE(open_backup(result.dir)->has_domain("example.com"));
  }
  EXPECT_EQ(entries(backups()), (std::vector<std::string>{"b", "empty"}));
}

TEST_F(Backup, AStagingFolderACrashLeftInTheStoreIsRemovedWhenItOpens) {
  store_.reset();
  disk_.close();
  fs::create_directories(store_folder() / "stsd-backup-staging");
  std::ofstream(store_folder() / "stsd-backup-staging" / "CURRENT") << "MANIFEST-000001\n";
  fs::create_directories(store_folder() / "stsd-backup-staging.tmp");
  StorageOptions options;
  options.min_free_bytes = 0;
  auto database = Database::open(store_folder(), options);
  EXPECT_FALSE(fs::exists(store_folder() / "stsd-backup-staging"));
  EXPECT_FALSE(fs::exists(store_folder() / "stsd-backup-staging.tmp"));
}

}  // namespace
}  // namespace stsd::store
