// The store's fault model (README.md, "Faults") over a real RocksDB meeting real faults:
// ENOSPC on a small tmpfs, a read-only mount, and an I/O error injected through RocksDB's
// file system interface (a disk that fails while the store is open: the kernel refuses a
// read-only remount while RocksDB holds files open for writing).
//
// A failed or refused write changes nothing (in memory or on disk) and no later write
// reaches RocksDB until the store recovered; DNS keeps answering from the index; writes
// come back by themselves once the cause is gone, without a restart.
//
// The mounts need root and a mount namespace of this process's own (nothing leaks to the
// machine): see PrivateMounts. Without them those tests are skipped, saying why.
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <gtest/gtest.h>

#include "clock.h"
#include "property_support.h"
#include "store/bulk_commit.h"
#include "store/database.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::store {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using test_support::as_wire;

// The mount namespace is entered before main(), while the process has one thread: a
// namespace entered later would not apply to threads started earlier (RocksDB's), which
// would then write under the mount point instead of into the mounted file system. Empty
// when entered, else why not.
const std::string kNoPrivateMounts = [] {
  if (::geteuid() != 0) return std::string("mounting a tmpfs needs root");
  if (::unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return std::string("making / private: ") + std::strerror(errno);
  return std::string();
}();

// A tmpfs of its own, and a filler file that takes its space.
class Tmpfs {
 public:
  Tmpfs(fs::path at, unsigned mib) : at_(std::move(at)), mib_(mib) {
    fs::create_directories(at_);
    mount(0);
  }
  ~Tmpfs() { ::umount2(at_.c_str(), MNT_DETACH); }
  const fs::path& path() const { return at_; }

  uint64_t free() const {
    struct statvfs info {};
    ::statvfs(at_.c_str(), &info);
    return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
  }
  // Writes the filler until `leave` bytes are free (0: until the disk is full).
  void fill(uint64_t leave = 0) {
    std::ofstream filler(at_ / "filler", std::ios::binary | std::ios::app);
    const std::string block(64 << 10, '\0');
    for (int i = 0; i < 100000 && free() > leave; ++i) {
      filler.write(block.data(), static_cast<std::streamsize>(std::min<uint64_t>(block.size(), free() - leave)));
      filler.flush();
      if (!filler) break;
    }
  }
  void empty() { fs::remove(at_ / "filler"); }
  void remount_read_only(bool read_only) { mount(MS_REMOUNT | (read_only ? MS_RDONLY : 0)); }

 private:
  void mount(unsigned long flags) {
    const std::string options = "size=" + std::to_string(mib_) + "m,mode=0755";
    ASSERT_EQ(::mount("tmpfs", at_.c_str(), "tmpfs", flags, options.c_str()), 0) << std::strerror(errno);
  }
  fs::path at_;
  unsigned mib_;
};

// RocksDB's file system, with every write failing while `failing` is set (as a disk that
// returns EIO does): RocksDB cannot Resume() from that; the store must reopen.
// `failing_names` narrows it to the files whose path contains it.
struct WriteFailures {
  std::atomic<bool> failing{false};
  std::string failing_names;
  bool fail(const std::string& path) const { return failing && path.find(failing_names) != std::string::npos; }
};

class FailingFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FailingFile(std::unique_ptr<rocksdb::FSWritableFile> file, std::string path, const WriteFailures& failures)
      : FSWritableFileOwnerWrapper(std::move(file)), path_(std::move(path)), failures_(failures) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    return failing() ? injected() : FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* dbg) override {
    return failing() ? injected() : FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return failing() ? injected() : FSWritableFileOwnerWrapper::Flush(options, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return failing() ? injected() : FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return failing() ? injected() : FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }
  static rocksdb::IOStatus injected() { return rocksdb::IOStatus::IOError("injected: Input/output error"); }

 private:
  bool failing() const { return failures_.fail(path_); }
  const std::string path_;
  const WriteFailures& failures_;
};

class FailingFileSystem final : public rocksdb::FileSystemWrapper, public WriteFailures {
 public:
  FailingFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FailingFileSystem"; }
  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    if (fail(name)) return FailingFile::injected();
    auto status = target()->NewWritableFile(name, options, file, dbg);
    if (status.ok()) *file = std::make_unique<FailingFile>(std::move(*file), name, *this);
    return status;
  }
};

Policy enforce(uint32_t n) {
  Policy policy{Mode::Enforce, {}, 86400 + n};
  // A dozen long mx lines: each version takes a few KiB, so a disk fills in few writes.
  for (int i = 0; i < 12; ++i)
    policy.mx.push_back("mx" + std::to_string(n) + "-" + std::to_string(i) + "." + std::string(40, 'a') + ".example");
  return policy;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Everything memory holds that a write changes.
struct Memory {
  uint64_t generation;
  size_t domains;
  std::vector<std::string> pending;
  uint32_t staged;
  uint64_t newest_event;
  bool served;
  bool operator==(const Memory&) const = default;
};

class StoreFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kNoPrivateMounts.empty() && needs_mounts()) GTEST_SKIP() << kNoPrivateMounts;
  }
  virtual bool needs_mounts() const { return true; }

  fs::path storage() const { return scratch_.dir() / "mnt" / "db"; }
  void open(StorageOptions options) {
    store_.reset();
    store_ = std::make_shared<PolicyStore>(Database::open(storage(), std::move(options)), clock_);
  }
  void close() { store_.reset(); }
  Memory memory(const std::string& domain) const {
    return {store_->generation(),
            store_->domain_count(),
            store_->pending_domains(),
            store_->status(domain, 0)->staged->number,
            store_->events(domain, 1).front().seq,
            static_cast<bool>(store_->served_wire(as_wire(domain)))};
  }
  // A domain with version 1 confirmed.
  void add_confirmed(const std::string& domain) {
    store_->add_domain(domain, {});
    store_->stage(domain, enforce(1), false);
    store_->confirm(domain, 1, true, "test");
  }
  // Waits (at most 15 s) until the store accepts writes again by itself.
  void wait_until_writable() {
    for (int i = 0; i < 150 && !store_->health().writable; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(store_->health().writable) << store_->health().reason;
  }
  // Stages until a stage is refused; returns the last acknowledged version and the refusal.
  std::pair<uint32_t, std::string> stage_until_refused(const std::string& domain) {
    uint32_t acknowledged = 0;
    for (uint32_t n = 2; n < 3000; ++n) {
      const Memory before = memory(domain);
      try {
        acknowledged = store_->stage(domain, enforce(n), false).version;
      } catch (const StoreUnavailable& e) {
        EXPECT_EQ(memory(domain), before) << "the refused write changed memory";
        return {acknowledged, e.what()};
      }
    }
    ADD_FAILURE() << "the store never refused a write";
    return {acknowledged, ""};
  }

  test_support::TempStore scratch_;
  std::shared_ptr<ManualClock> clock_ =
      std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(1735689600)));
  std::shared_ptr<PolicyStore> store_;
};

TEST_F(StoreFaults, AWriteThatMeetsAFullDiskIsRefusedAndTheNextOnesNeverReachRocksDB) {
  Tmpfs disk(storage().parent_path(), 24);
  open({0});  // no minimum: RocksDB itself meets ENOSPC
  add_confirmed("a.example");
  char served_id[kMaxIdLength];
  const size_t served_length = store_->served_wire(as_wire("a.example")).id_at(0, store_->schedule(), served_id);
  close();
  disk.fill(256 << 10);  // before opening: RocksDB preallocates its log when there is room
  open({0});

  const auto [acknowledged, refusal] = stage_until_refused("a.example");
  EXPECT_TRUE(contains(refusal, "store write failed (nothing changed)")) << refusal;
  EXPECT_TRUE(contains(refusal, "No space left on device")) << refusal;
  auto health = store_->health();
  EXPECT_FALSE(health.writable);
  EXPECT_TRUE(contains(health.reason, "a write failed: IO error: No space left on device")) << health.reason;
  EXPECT_EQ(health.failed_writes, 1u);

  const Memory before = memory("a.example");
  for (uint32_t n = 0; n < 5; ++n) {
    try {
      store_->stage("a.example", enforce(10000 + n), false);
      ADD_FAILURE() << "a write after the failed one was accepted";
    } catch (const StoreUnavailable& e) {
      EXPECT_TRUE(contains(e.what(), "the store refuses writes (nothing changed)")) << e.what();
    }
  }
  EXPECT_EQ(memory("a.example"), before);
  EXPECT_EQ(store_->health().failed_writes, 1u) << "none of them reached RocksDB";
  EXPECT_EQ(store_->health().refused_writes, 5u);
  char id[kMaxIdLength];
  EXPECT_EQ(std::string(id, store_->served_wire(as_wire("a.example")).id_at(0, store_->schedule(), id)),
            std::string(served_id, served_length))
      << "DNS answers as before";

  disk.empty();
  wait_until_writable();
  EXPECT_EQ(store_->stage("a.example", enforce(20000), false).version, acknowledged + 1);
  EXPECT_EQ(store_->health().recoveries, 1u);
  close();
  open({0});
  EXPECT_EQ(store_->status("a.example", 0)->staged->number, acknowledged + 1) << "every acknowledged write is there";
  EXPECT_TRUE(store_->version("a.example", acknowledged));
  EXPECT_TRUE(store_->health().torn_wal.empty()) << "the failed write's torn record went with the reopen";
}

TEST_F(StoreFaults, BelowTheMinimumWritesAreRefusedBeforeRocksDBMeetsAnError) {
  Tmpfs disk(storage().parent_path(), 48);
  open({4 << 20});
  add_confirmed("a.example");
  disk.fill((3 << 20) + (512 << 10));  // another program fills the disk
  const Memory before = memory("a.example");
  try {
    store_->add_domain("b.example", {});
    ADD_FAILURE() << "accepted with less free space than the minimum";
  } catch (const StoreUnavailable& e) {
    EXPECT_TRUE(contains(e.what(), "less than the 4.0 MiB stsd keeps free (storage_min_free_mib)")) << e.what();
  }
  EXPECT_EQ(memory("a.example"), before);
  const auto health = store_->health();
  EXPECT_FALSE(health.writable);
  EXPECT_EQ(health.failed_writes, 0u);
  EXPECT_EQ(health.refused_writes, 1u);
  ASSERT_TRUE(health.free_bytes);
  EXPECT_GT(*health.free_bytes, uint64_t{3} << 20) << "refused with room to spare";

  disk.empty();
  store_->add_domain("b.example", {});  // at once: nothing to recover from
  EXPECT_TRUE(store_->health().writable);
}

TEST_F(StoreFaults, OpensReadOnlyOnAFullDiskAndBecomesWritableWhenSpaceFrees) {
  Tmpfs disk(storage().parent_path(), 24);
  open({2 << 20});
  add_confirmed("a.example");
  close();
  disk.fill();

  open({2 << 20});
  auto health = store_->health();
  EXPECT_TRUE(health.read_only);
  EXPECT_FALSE(health.writable);
  EXPECT_TRUE(contains(health.reason, "the store was opened read-only: the file system of")) << health.reason;
  EXPECT_TRUE(store_->served_wire(as_wire("a.example"))) << "DNS answers from what is on disk";
  EXPECT_EQ(store_->status("a.example", 0)->confirmed->number, 1u) << "reads work";
  EXPECT_THROW(store_->add_domain("b.example", {}), StoreUnavailable);

  disk.empty();
  wait_until_writable();  // without a write: the recovery thread reopened it
  EXPECT_FALSE(store_->health().read_only);
  store_->add_domain("b.example", {});
  EXPECT_TRUE(store_->has_domain("b.example"));
}

TEST_F(StoreFaults, OpensReadOnlyOnAReadOnlyMountAndBecomesWritableAfterARemount) {
  Tmpfs disk(storage().parent_path(), 24);
  open({1 << 20});
  add_confirmed("a.example");
  close();
  disk.remount_read_only(true);

  open({1 << 20});
  auto health = store_->health();
  EXPECT_TRUE(health.read_only);
  EXPECT_TRUE(contains(health.reason, "Read-only file system")) << health.reason;
  EXPECT_TRUE(store_->served_wire(as_wire("a.example")));
  try {
    store_->stage("a.example", enforce(2), false);
    ADD_FAILURE() << "a read-only store accepted a write";
  } catch (const StoreUnavailable& e) {
    EXPECT_TRUE(contains(e.what(), "Read-only file system")) << e.what();
  }

  disk.remount_read_only(false);
  wait_until_writable();
  EXPECT_EQ(store_->stage("a.example", enforce(2), false).version, 2u);
}

class StoreFaultsInjected : public StoreFaults {
 protected:
  bool needs_mounts() const override { return false; }
  StorageOptions failing_options() {
    StorageOptions options;
    options.min_free_bytes = 0;
    options.env = std::shared_ptr<rocksdb::Env>(rocksdb::NewCompositeEnv(file_system_).release());
    return options;
  }
  std::shared_ptr<FailingFileSystem> file_system_ = std::make_shared<FailingFileSystem>();
};

TEST_F(StoreFaultsInjected, AWriteErrorRocksDBCannotResumeFromIsRecoveredByReopening) {
  open(failing_options());
  add_confirmed("a.example");
  const Memory before = memory("a.example");
  file_system_->failing = true;
  try {
    store_->stage("a.example", enforce(2), false);
    ADD_FAILURE() << "a write on a failing disk was acknowledged";
  } catch (const StoreUnavailable& e) {
    EXPECT_TRUE(contains(e.what(), "injected: Input/output error")) << e.what();
  }
  EXPECT_EQ(memory("a.example"), before);
  EXPECT_EQ(store_->health().failed_writes, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // recovery attempts fail meanwhile
  EXPECT_FALSE(store_->health().writable);
  EXPECT_EQ(store_->status("a.example", 0)->confirmed->number, 1u) << "reads go on between the attempts";
  EXPECT_EQ(memory("a.example"), before);

  file_system_->failing = false;
  wait_until_writable();
  EXPECT_EQ(store_->stage("a.example", enforce(2), false).version, 2u);
  EXPECT_EQ(store_->events("a.example", 1).front().seq, before.newest_event + 1) << "no event number was used up";
  EXPECT_EQ(store_->health().recoveries, 1u);
}

// A large import builds its served-index shards while it commits: when the commit fails,
// none of them is published and the index counts and answers as before; the same import
// once the disk is back publishes every domain.
TEST_F(StoreFaultsInjected, AFailedLargeImportLeavesTheServedIndexAsItWas) {
  open(failing_options());
  const auto items = [](size_t first, size_t count) {
    std::vector<ImportItem> items;
    for (size_t i = first; i < first + count; ++i)
      items.push_back({"d" + std::to_string(i) + ".example", std::nullopt, enforce(1)});
    return items;
  };
  store_->import(items(0, 3000), true, "test");
  ASSERT_EQ(store_->domain_count(), 3000u);
  const Memory before = memory("d1.example");

  // The import's table file cannot be written; RocksDB's own files (flushes, compactions)
  // can, so the write fails in its commit, not before.
  file_system_->failing_names = std::string(kIngestFilePrefix);
  file_system_->failing = true;
  try {
    store_->import(items(1000, 4000), true, "test");  // 2000 known, 2000 new
    ADD_FAILURE() << "an import on a failing disk was acknowledged";
  } catch (const StoreUnavailable& e) {
    EXPECT_TRUE(contains(e.what(), "store write failed")) << "refused before its commit: " << e.what();
  }
  EXPECT_EQ(memory("d1.example"), before);
  EXPECT_EQ(store_->domain_count(), 3000u);
  EXPECT_TRUE(store_->served_wire(as_wire("d2999.example")));
  EXPECT_FALSE(store_->served_wire(as_wire("d3000.example"))) << "a shard built for the failed import was published";
  EXPECT_FALSE(store_->served_wire(as_wire("d4999.example")));

  file_system_->failing = false;
  wait_until_writable();
  EXPECT_EQ(memory("d1.example"), before);
  add_confirmed("other.example");  // the next write publishes its own change only
  EXPECT_EQ(store_->domain_count(), 3001u);
  EXPECT_FALSE(store_->served_wire(as_wire("d3000.example"))) << "the failed import's changes were kept";
  store_->import(items(1000, 4000), true, "test");
  EXPECT_EQ(store_->domain_count(), 5001u);
  EXPECT_TRUE(store_->served_wire(as_wire("d3000.example")));
  EXPECT_TRUE(store_->served_wire(as_wire("d4999.example")));
  EXPECT_TRUE(store_->served_wire(as_wire("d1.example")));
}

}  // namespace
}  // namespace stsd::store
