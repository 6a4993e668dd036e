#include "store/checksum_verification.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <rocksdb/convenience.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include "logging.h"
#include "store/database.h"
#include "store/policy_id.h"

namespace stsd::store {

namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

// Large sequential reads (RocksDB's prefetch buffer while it walks a file's blocks); also
// the most a stop() waits for.
constexpr size_t kReadahead = 4 << 20;

rocksdb::IOStatus closing() { return rocksdb::IOStatus::Aborted("the store is closing"); }

// A table file whose reads fail once the verification is stopped.
class StoppableFile final : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  StoppableFile(std::unique_ptr<rocksdb::FSRandomAccessFile> file, const std::atomic<bool>& stopping)
      : FSRandomAccessFileOwnerWrapper(std::move(file)), stopping_(stopping) {}
  rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& options, rocksdb::Slice* result,
                         char* scratch, rocksdb::IODebugContext* dbg) const override {
    if (stopping_.load(std::memory_order_relaxed)) return closing();
    return FSRandomAccessFileOwnerWrapper::Read(offset, n, options, result, scratch, dbg);
  }
  rocksdb::IOStatus MultiRead(rocksdb::FSReadRequest* requests, size_t count, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    if (stopping_.load(std::memory_order_relaxed)) return closing();
    return FSRandomAccessFileOwnerWrapper::MultiRead(requests, count, options, dbg);
  }

 private:
  const std::atomic<bool>& stopping_;
};

class StoppableFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  StoppableFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base, const std::atomic<bool>& stopping)
      : FileSystemWrapper(base), stopping_(stopping) {}
  const char* Name() const override { return "StsdStoppableFileSystem"; }
  rocksdb::IOStatus NewRandomAccessFile(const std::string& name, const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* file,
                                        rocksdb::IODebugContext* dbg) override {
    if (stopping_.load(std::memory_order_relaxed)) return closing();
    auto status = target()->NewRandomAccessFile(name, options, file, dbg);
    if (status.ok()) *file = std::make_unique<StoppableFile>(std::move(*file), stopping_);
    return status;
  }

 private:
  const std::atomic<bool>& stopping_;
};

// The calling thread gets the lowest CPU priority (nice 19) and the lowest best-effort
// I/O priority: DNS, the start-up scan and writes go first. Linux applies both to the
// thread alone. Failing to lower them is harmless.
void lower_own_priority() {
  constexpr int kLowestNice = 19;
  constexpr int kIoprioWhoProcess = 1, kIoprioClassBestEffort = 2, kIoprioClassShift = 13, kLowestLevel = 7;
  const auto thread = static_cast<id_t>(::syscall(SYS_gettid));
  (void)::setpriority(PRIO_PROCESS, thread, kLowestNice);
  (void)::syscall(SYS_ioprio_set, kIoprioWhoProcess, thread,
                  kIoprioClassBestEffort << kIoprioClassShift | kLowestLevel);
  ::pthread_setname_np(::pthread_self(), "stsd-checksums");
}

int64_t unix_now() { return unix_seconds(std::chrono::system_clock::now()); }

}  // namespace

std::string_view checksum_state_name(ChecksumCheck::State state) {
  switch (state) {
    case ChecksumCheck::State::not_run:
      return "not_run";
    case ChecksumCheck::State::verifying:
      return "verifying";
    case ChecksumCheck::State::verified:
      return "verified";
    case ChecksumCheck::State::damaged:
      return "damaged";
    case ChecksumCheck::State::stopped:
      return "stopped";
  }
  return "not_run";
}

ChecksumVerification::ChecksumVerification(fs::path folder, const rocksdb::Options& options, ListFiles list_files)
    : folder_(std::move(folder)), list_files_(std::move(list_files)), options_(options) {
  rocksdb::Env* base = options_.env ? options_.env : rocksdb::Env::Default();
  env_ = rocksdb::NewCompositeEnv(std::make_shared<StoppableFileSystem>(base->GetFileSystem(), stopping_));
  options_.env = env_.get();
}

ChecksumVerification::~ChecksumVerification() { stop(); }

void ChecksumVerification::start() {
  {
    std::lock_guard lock(mutex_);
    if (state_.state != ChecksumCheck::State::not_run) return;  // once
    state_.state = ChecksumCheck::State::verifying;
    state_.at = unix_now();
  }
  thread_ = std::thread([this] { run(); });
}

void ChecksumVerification::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

ChecksumCheck ChecksumVerification::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

// ---- the thread --------------------------------------------------------------------------

void ChecksumVerification::run() {
  lower_own_priority();
  started_ = steady::now();
  const auto files = list_files_();
  if (!files) {
    finish(ChecksumCheck::State::stopped);
    log::f(log::Level::Warning, "store: %s: the table files' checksums were not verified: the store cannot be read now",
           folder_.c_str());
    return;
  }
  {
    std::lock_guard lock(mutex_);
    state_.files = files->size();
    for (const auto& file : *files) state_.bytes += file.size;
  }
  for (const auto& file : *files) {
    auto status = verify(file);
    if (stopping_.load(std::memory_order_relaxed)) {
      const auto done = finish(ChecksumCheck::State::stopped);
      log::f(log::Level::Info,
             "store: checksum verification stopped after %zu of %zu table files: the store is closing",
             done.verified_files, done.files);
      return;
    }
    // A file a compaction replaced meanwhile is gone: the compaction read and checked it
    // whole, and the files it wrote are new. Corruption is reported whatever the file's fate.
    if (!status.ok() && !status.IsCorruption() && !still_live(file)) status = rocksdb::Status::OK();
    if (!status.ok()) return found_damage(file, status);
    std::lock_guard lock(mutex_);
    ++state_.verified_files;
    state_.verified_bytes += file.size;
  }
  const auto done = finish(ChecksumCheck::State::verified);
  log::f(log::Level::Info, "store: checksums of %zu table files (%s) verified in %.2f s, in the background", done.files,
         mib(done.bytes).c_str(), done.seconds);
}

rocksdb::Status ChecksumVerification::verify(const TableFile& file) const {
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;  // read once: do not evict what the store's reads need
  read.readahead_size = kReadahead;
  return rocksdb::VerifySstFileChecksum(options_, rocksdb::EnvOptions(options_), read, file.path, file.largest_seqno);
}

bool ChecksumVerification::still_live(const TableFile& file) const {
  const auto files = list_files_();
  // Unknown (the store is being reopened): not reported. A false "damaged" would refuse
  // writes until a restart; a missed check is caught by the read that meets the damage.
  if (!files) return false;
  return std::any_of(files->begin(), files->end(), [&](const TableFile& live) { return live.path == file.path; });
}

void ChecksumVerification::found_damage(const TableFile& file, const rocksdb::Status& status) {
  const std::string damage = "the checksum verification found damage in " + file.path + " (" + status.ToString() +
                             "). DNS keeps answering from the records loaded at start, which were checked as they "
                             "were read; writes stay refused until the store is restored and stsd restarted: " +
                             restore_advice(folder_);
  {
    std::lock_guard lock(mutex_);
    state_.file = file.path;
    state_.damage = damage;
  }
  finish(ChecksumCheck::State::damaged);
  log::f(log::Level::Error, "store: %s", damage.c_str());
}

ChecksumCheck ChecksumVerification::finish(ChecksumCheck::State state) {
  std::lock_guard lock(mutex_);
  state_.state = state;
  state_.at = unix_now();
  state_.seconds = std::chrono::duration<double>(steady::now() - started_).count();
  return state_;
}

}  // namespace stsd::store
