// The store opens its own database under `storage:` (PolicyStore::open): once per
// process, never under --check-config, flushed and closed with the environment, and
// refused with a clear message while another process holds it.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <gtest/gtest.h>

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

class StoreDatabase : public ::testing::Test {
 protected:
  // A folder of its own, removed at the end (TempStore's database is not used here).
  std::filesystem::path folder() const { return scratch_.dir() / "storage"; }
  std::unique_ptr<Environment> environment(bool check_only = false) {
    return std::make_unique<Environment>(scratch_.dir(), folder(), nullptr, check_only);
  }

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

}  // namespace
}  // namespace stsd::store
