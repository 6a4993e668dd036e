// The store opens its own database under `storage:` (PolicyStore::open): once per
// process, never under --check-config, flushed and closed with the environment, and
// refused with a clear message while another process holds it. What it checks when it
// opens (README.md, "Faults"): a torn WAL tail is dropped and reported, damage elsewhere
// in the log or in what opening reads of a table file refuses to open naming the file and
// the way out, and the folder is the owner's.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <gtest/gtest.h>

#include "clock.h"
#include "environment.h"
#include "store/database.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::store {
namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool has_table_file(const std::filesystem::path& folder) {
  for (const auto& entry : std::filesystem::directory_iterator(folder))
    if (entry.path().extension() == ".sst") return true;
  return false;
}

// The folder's newest file with `extension` (RocksDB numbers its files in order).
std::filesystem::path newest(const std::filesystem::path& folder, const std::string& extension) {
  std::filesystem::path found;
  for (const auto& entry : std::filesystem::directory_iterator(folder))
    if (entry.path().extension() == extension && (found.empty() || entry.path() > found)) found = entry.path();
  return found;
}

void overwrite(const std::filesystem::path& file, uint64_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 0777;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class StoreDatabase : public ::testing::Test {
 protected:
  // A folder of its own, removed at the end (TempStore's database is not used here).
  std::filesystem::path folder() const { return scratch_.dir() / "storage"; }
  std::unique_ptr<Environment> environment(bool check_only = false) {
    return std::make_unique<Environment>(scratch_.dir(), folder(), nullptr, check_only);
  }
  // The database in `at` as a crash leaves it: `domains` added, one synced write each,
  // all of them in the write-ahead log only (a copy taken while it is open).
  void crash_image(const std::vector<std::string>& domains, const std::filesystem::path& at) {
    auto database = Database::open(folder(), {0});
    PolicyStore store(database, clock_);
    for (const auto& domain : domains) store.add_domain(domain, {});
    std::filesystem::copy(folder(), at);
  }

  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();

  test_support::TempStore scratch_;
};

TEST_F(StoreDatabase, OneStorePerProcessFlushedAndClosedWithTheEnvironment) {
  auto env = environment();
  auto store = PolicyStore::open(*env);
  EXPECT_EQ(PolicyStore::open(*env), store) << "the process-wide instance";
  store->add_domain("example.com", {});
  EXPECT_FALSE(has_table_file(folder())) << "a few small writes stay in the WAL and the memtable";
  store.reset();
  env.reset();
  EXPECT_TRUE(has_table_file(folder())) << "the memtable was flushed before closing";
  auto again = environment();
  EXPECT_TRUE(PolicyStore::open(*again)->has_domain("example.com")) << "closed, so it opens again";
}

// The nice values of this process's threads named `name`.
std::vector<int> nice_of_threads(const std::string& name) {
  std::vector<int> nices;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    std::getline(comm, line);
    if (line != name) continue;
    std::ifstream stat(task.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
    std::vector<std::string> after_comm{std::istream_iterator<std::string>(fields), {}};
    if (after_comm.size() > 16) nices.push_back(std::stoi(after_comm[16]));  // field 19, nice
  }
  return nices;
}

// Compactions run at the lowest CPU priority: DNS answers and the API's requests come
// first; a compaction takes what they leave (database.cpp, instance_options).
TEST_F(StoreDatabase, CompactionsRunAtTheLowestCpuPriority) {
  StorageOptions options;
  options.min_free_bytes = 0;
  auto database = Database::open(folder(), std::move(options));
  for (const char* key : {"a", "b", "c"}) {
    ASSERT_TRUE(database->db().Put({}, key, "v").ok());
    ASSERT_TRUE(database->db().Flush({}).ok());
  }
  ASSERT_TRUE(database->db().CompactRange({}, nullptr, nullptr).ok());
  const auto nices = nice_of_threads("rocksdb:low");
  ASSERT_FALSE(nices.empty()) << "no compaction thread";
  EXPECT_NE(std::find(nices.begin(), nices.end(), 19), nices.end()) << "the compaction ran at nice 0";
}

TEST_F(StoreDatabase, NotOpenedWithoutStorageOrWhileCheckingAConfig) {
  Environment no_storage(scratch_.dir(), std::nullopt, nullptr, false);
  try {
    PolicyStore::open(no_storage);
    ADD_FAILURE() << "opened without storage";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "no `storage:` folder is configured");
  }
  auto checking = environment(/*check_only=*/true);
  try {
    PolicyStore::open(*checking);
    ADD_FAILURE() << "opened while checking a config";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "the store is not opened while checking a config");
  }
  EXPECT_FALSE(std::filesystem::exists(folder()));
}

TEST_F(StoreDatabase, HeldByAnotherProcessIsRefusedWithTheReason) {
  // The other process takes RocksDB's lock the way RocksDB does (a write lock with
  // fcntl on the LOCK file), with async-signal-safe calls only: a forked child of this
  // multi-threaded process must not run RocksDB or the allocator, which could wait
  // forever on a lock some parent thread held at the fork.
  Database::open(folder()).reset();  // creates the database and its LOCK file
  const std::string lock_file = (folder() / "LOCK").string();
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // holds the lock until the parent writes to `release`
    const int fd = ::open(lock_file.c_str(), O_RDWR);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    char byte = fd >= 0 && ::fcntl(fd, F_SETLK, &lock) == 0 ? 1 : 0;
    (void)!::write(ready[1], &byte, 1);
    (void)!::read(release[0], &byte, 1);
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ASSERT_EQ(byte, 1) << "the other process could not take the lock";
  try {
    Database::open(folder());
    ADD_FAILURE() << "opened a database another process holds";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("storage " + folder().string() + ": ", 0), 0u) << message;
    EXPECT_NE(lowercase(message).find("lock"), std::string::npos) << message;
  }
  (void)!::write(release[1], &byte, 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  EXPECT_NO_THROW(Database::open(folder())) << "free again once the other process let go";
}

TEST_F(StoreDatabase, ATornWalTailIsDroppedAndReportedLoudly) {
  const auto image = scratch_.dir() / "crashed";
  crash_image({"kept.example", "cut.example"}, image);
  const auto wal = newest(image, ".log");
  std::filesystem::resize_file(wal, std::filesystem::file_size(wal) - 20);  // cuts the last record

  testing::internal::CaptureStderr();
  auto database = Database::open(image, {0});
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(database->torn_wal(), wal.string())) << database->torn_wal();
  EXPECT_TRUE(contains(log, "[error] store: " + image.string() + ": the write-ahead log ended in a torn record"))
      << log;
  PolicyStore store(database, clock_);
  EXPECT_TRUE(store.has_domain("kept.example"));
  EXPECT_FALSE(store.has_domain("cut.example")) << "the cut write is gone";
  EXPECT_EQ(store.health().torn_wal, database->torn_wal());
  store.add_domain("after.example", {});
}

TEST_F(StoreDatabase, DamageInsideTheWalRefusesToOpen) {
  const auto image = scratch_.dir() / "crashed";
  crash_image({"a.example", "b.example", "c.example", "d.example"}, image);
  overwrite(newest(image, ".log"), 100, std::string(8, '\x5a'));  // inside the first records
  try {
    Database::open(image, {0});
    ADD_FAILURE() << "opened a database whose log lost writes before its end";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_TRUE(contains(message, "storage " + image.string() + ": the store is damaged: Corruption")) << message;
    EXPECT_TRUE(contains(message, "restore it from a backup (docs/backups.md)")) << message;
  }
}

TEST_F(StoreDatabase, ADamagedTableFileRefusesToOpenNamingTheFile) {
  {
    auto database = Database::open(folder(), {0});
    PolicyStore store(database, clock_);
    for (int i = 0; i < 200; ++i) store.add_domain("d" + std::to_string(i) + ".example", {});
  }  // flushed into a table file when closed
  const auto table = newest(folder(), ".sst");
  ASSERT_FALSE(table.empty());
  // The blocks opening reads (the metaindex block before the 53-byte footer, which leads
  // to the index, filter and properties blocks). Damage in the data blocks is the start-up
  // scan's or the background verification's (checksum_verification_test.cpp).
  constexpr uint64_t kFooter = 53;
  overwrite(table, std::filesystem::file_size(table) - kFooter - 16, std::string(16, '\x5a'));
  try {
    Database::open(folder(), {0});
    ADD_FAILURE() << "opened a database with a damaged table file";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_TRUE(contains(message, "storage " + folder().string() + ": the store is damaged: Corruption")) << message;
    EXPECT_TRUE(contains(message, table.string())) << message;
    EXPECT_TRUE(contains(message, "restore it from a backup (docs/backups.md)")) << message;
  }
}

TEST_F(StoreDatabase, TheFolderIsTheOwnersAlone) {
  // stsd runs under umask 077 (src/main), which makes RocksDB's new files 0600; what is
  // tested here is the folder and the files it finds.
  const mode_t umask_before = ::umask(077);
  Database::open(folder()).reset();
  EXPECT_EQ(mode_of(folder()), 0700u) << "created private";

  // A store an older stsd left readable is tightened when opened.
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder())) files.push_back(entry.path());
  ASSERT_FALSE(files.empty());
  std::filesystem::permissions(folder(), std::filesystem::perms(0755));
  for (const auto& file : files) std::filesystem::permissions(file, std::filesystem::perms(0644));
  testing::internal::CaptureStderr();
  auto database = Database::open(folder());
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(mode_of(folder()), 0700u);
  for (const auto& entry : std::filesystem::directory_iterator(folder()))
    EXPECT_EQ(mode_of(entry.path()), 0600u) << entry.path();
  EXPECT_TRUE(contains(log, "readable by other users (mode 755); it is 0700 now")) << log;
  EXPECT_TRUE(contains(log, "were readable by other users; they are 0600 now")) << log;
  ::umask(umask_before);
}

}  // namespace
}  // namespace stsd::store
