// Online backups of the store: checking DIR, the checkpoint, moving or copying it next to
// DIR, verifying it, and the last rename (the steps are described in backup.h).
#include "store/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>

#include "logging.h"
#include "store/database.h"
#include "store/keys.h"

namespace stsd::store {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kStagingName = "stsd-backup-staging";
constexpr std::string_view kPartialSuffix = ".stsd-backup-partial";

[[noreturn]] void refuse(const fs::path& dir, const std::string& why) {
  throw BackupError(BackupError::Kind::BadFolder, "backup folder " + dir.string() + ": " + why);
}

// A failure of a system call on `what`, as a BackupError of the kind its errno means.
[[noreturn]] void fail(const std::string& what, int error) {
  const auto kind =
      error == ENOSPC || error == EDQUOT ? BackupError::Kind::NoSpace : BackupError::Kind::Failed;
  throw BackupError(kind, what + ": " + std::strerror(error));
}

[[noreturn]] void fail(const std::string& what, const std::error_code& error) { fail(what, error.value()); }

bool inside(const fs::path& path, const fs::path& folder) {
  auto p = path.begin();
  for (auto f = folder.begin(); f != folder.end(); ++f, ++p) {
    if (f->empty()) continue;  // the trailing "" of "a/b/"
    if (p == path.end() || *p != *f) return false;
  }
  return true;
}

void sync_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail("backup: cannot open " + path.string() + " to sync it", errno);
  const bool synced = ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!synced) fail("backup: cannot sync " + path.string(), error);
}

void sync_folder(const fs::path& folder) { sync_path(folder, O_RDONLY | O_DIRECTORY); }

// The regular files of `folder` with their sizes.
std::vector<std::pair<fs::path, uint64_t>> files_of(const fs::path& folder) {
  std::vector<std::pair<fs::path, uint64_t>> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    std::error_code size_error;
    const uint64_t size = entry.is_regular_file() ? entry.file_size(size_error) : 0;
    if (size_error) fail("backup: cannot read the size of " + entry.path().string(), size_error);
    if (entry.is_regular_file()) files.emplace_back(entry.path(), size);
  }
  if (ec) fail("backup: cannot list " + folder.string(), ec);
  return files;
}

// Copies `from` into a new file `to`; the errno of the step that failed, else 0. Not
// std::filesystem::copy_file: a copy cut short by a full disk reads there as EIO (its
// sendfile wrote less than the file's size), and a full disk must read as one.
int copy_file_exactly(const fs::path& from, const fs::path& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return errno;
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    const int error = errno;
    ::close(in);
    return error;
  }
  int error = 0;
  char buffer[64 << 10];
  for (;;) {
    const ssize_t got = ::read(in, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got < 0) error = errno;
      break;
    }
    for (ssize_t done = 0; done < got && error == 0;) {
      const ssize_t put = ::write(out, buffer + done, static_cast<size_t>(got - done));
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0) error = put < 0 ? errno : ENOSPC;
      else done += put;
    }
    if (error) break;
  }
  ::close(in);
  if (::close(out) != 0 && error == 0) error = errno;
  return error;
}

// Step 3 when the staging folder cannot be renamed next to DIR (another file system):
// a copy of each file, synced, after checking that DIR's file system has room for it.
void copy_folder(const fs::path& from, const fs::path& to, const fs::path& dir) {
  const auto files = files_of(from);
  uint64_t bytes = 0;
  for (const auto& file : files) bytes += file.second;
  struct statvfs space {};
  if (::statvfs(to.parent_path().c_str(), &space) == 0) {
    const uint64_t free = static_cast<uint64_t>(space.f_bavail) * space.f_frsize;
    if (free < bytes)
      throw BackupError(BackupError::Kind::NoSpace, "backup folder " + dir.string() + ": its file system has " +
                                                        mib(free) + " free, the backup needs " + mib(bytes));
  }
  const std::string place = "backup folder " + dir.string() + ": ";
  if (::mkdir(to.c_str(), 0700) != 0) fail(place + "cannot create " + to.string(), errno);
  for (const auto& file : files) {
    const fs::path target = to / file.first.filename();
    if (const int error = copy_file_exactly(file.first, target))
      fail(place + "cannot copy " + file.first.filename().string() + " into " + to.string(), error);
    sync_path(target, O_RDONLY);
  }
  sync_folder(to);
}

// RocksDB's log while a backup is verified: errors and warnings into stsd's log (and no
// LOG file written into the backup).
class VerifyLogger final : public rocksdb::Logger {
 public:
  VerifyLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  void Logv(const char*, va_list) override {}
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel() || level >= rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char buffer[1024];
    std::vsnprintf(buffer, sizeof buffer, format, ap);
    log::f(log::Level::Warning, "store: backup: rocksdb: %s", buffer);
  }
};

// Step 4: the backup opened read-only as stsd would open it (the write-ahead log read
// strictly, every block checksum verified); its domains and newest event sequence.
BackupExpectation read_backup(const fs::path& folder) {
  rocksdb::Options options;
  options.create_if_missing = false;
  options.paranoid_checks = true;
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kAbsoluteConsistency;
  options.info_log = std::make_shared<VerifyLogger>();
  rocksdb::DB* raw = nullptr;
  const auto opened = rocksdb::DB::OpenForReadOnly(options, folder.string(), &raw);
  const auto unusable = [&](const rocksdb::Status& status) {
    return BackupError(BackupError::Kind::Failed,
                       "backup: the copy in " + folder.string() + " does not open as a store: " + status.ToString());
  };
  if (!opened.ok()) throw unusable(opened);
  std::unique_ptr<rocksdb::DB> db(raw);
  if (auto checked = db->VerifyChecksum(); !checked.ok()) throw unusable(checked);
  BackupExpectation held;
  std::string seq;
  if (auto got = db->Get(rocksdb::ReadOptions(), std::string(keys::kEventSeq), &seq); got.ok()) {
    auto [end, error] = std::from_chars(seq.data(), seq.data() + seq.size(), held.event_seq);
    if (error != std::errc() || end != seq.data() + seq.size())
      throw BackupError(BackupError::Kind::Failed, "backup: " + std::string(keys::kEventSeq) + " holds '" + seq + "'");
  } else if (!got.IsNotFound()) {
    throw unusable(got);
  }
  rocksdb::ReadOptions scan;
  scan.fill_cache = false;
  const rocksdb::Slice upper(keys::kServedEnd.data(), keys::kServedEnd.size());
  scan.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(scan));
  for (it->Seek(std::string(keys::kServedPrefix)); it->Valid(); it->Next()) ++held.domains;
  if (!it->status().ok()) throw unusable(it->status());
  return held;
}

void remove_folder(const fs::path& folder) noexcept {
  std::error_code ec;
  fs::remove_all(folder, ec);
  if (ec) log::f(log::Level::Warning, "store: backup: cannot remove %s: %s", folder.c_str(), ec.message().c_str());
}

}  // namespace

BackupTarget check_backup_target(const fs::path& requested, const fs::path& store_folder) {
  if (requested.empty()) refuse(requested, "no folder given");
  if (!requested.is_absolute()) refuse(requested, "not an absolute path (stsctl makes a relative path absolute)");
  fs::path dir = requested.lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "/a/b/" is /a/b
  if (dir == dir.root_path()) refuse(dir, "the root folder cannot be a backup");
  std::error_code ec;
  const fs::path parent = dir.parent_path();
  const auto parent_status = fs::status(parent, ec);
  if (!fs::exists(parent_status)) refuse(dir, "its parent folder " + parent.string() + " does not exist (create it first)");
  if (!fs::is_directory(parent_status)) refuse(dir, parent.string() + " is not a folder");
  const fs::path store = fs::weakly_canonical(store_folder, ec);
  const fs::path resolved = fs::weakly_canonical(dir, ec);
  if (inside(resolved, store)) refuse(dir, "it is inside the store's folder " + store.string());
  const auto status = fs::symlink_status(dir, ec);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) refuse(dir, "it exists and is not a folder");
    if (!fs::is_empty(dir, ec) || ec)
      throw BackupError(BackupError::Kind::FolderNotEmpty,
                        "backup folder " + dir.string() +
                            ": it exists and is not empty (a backup never writes into a folder that holds "
                            "anything: give a new folder, or an empty one)");
  }
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict, bug 105329) on "..." + string&&.
  std::string partial_name = ".";
  partial_name += dir.filename().string();
  partial_name += kPartialSuffix;
  return BackupTarget{dir, parent / partial_name, store_folder / kStagingName};
}

void create_checkpoint(rocksdb::DB& db, const BackupTarget& target) {
  remove_folder(target.staging);
  remove_folder(target.staging.string() + ".tmp");  // RocksDB's own staging name
  rocksdb::Checkpoint* raw = nullptr;
  auto status = rocksdb::Checkpoint::Create(&db, &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // UINT64_MAX: never flush the memtable (backup.h, step 2); the write-ahead log holds it.
  if (status.ok()) status = checkpoint->CreateCheckpoint(target.staging.string(), UINT64_MAX);
  if (!status.ok()) {
    const auto kind = status.IsNoSpace() ? BackupError::Kind::NoSpace : BackupError::Kind::Failed;
    throw BackupError(kind, "backup: the checkpoint in " + target.staging.string() + " failed: " + status.ToString());
  }
}

BackupResult finish_backup(const BackupTarget& target, const BackupExpectation& expected) {
  try {
    remove_folder(target.partial);  // an earlier backup to the same DIR cut short
    if (::rename(target.staging.c_str(), target.partial.c_str()) != 0) {
      if (errno != EXDEV) fail("backup: cannot move the checkpoint to " + target.partial.string(), errno);
      copy_folder(target.staging, target.partial, target.dir);
      remove_folder(target.staging);
    }
    ::chmod(target.partial.c_str(), 0700);  // the store's own mode: the backup holds the same data
    const BackupExpectation held = read_backup(target.partial);
    if (held.domains != expected.domains || held.event_seq != expected.event_seq)
      throw BackupError(BackupError::Kind::Failed,
                        "backup: the copy holds " + std::to_string(held.domains) + " domains and events up to " +
                            std::to_string(held.event_seq) + ", the store held " + std::to_string(expected.domains) +
                            " and " + std::to_string(expected.event_seq) + " when it was made");
    BackupResult result;
    result.dir = target.dir;
    result.domains = held.domains;
    result.event_seq = held.event_seq;
    for (const auto& file : files_of(target.partial)) {
      // As private as the store, whatever the umask (the table files are the store's own
      // through their hard links: 0600 is what the store keeps them at anyway).
      ::chmod(file.first.c_str(), 0600);
      sync_path(file.first, O_RDONLY);
      result.bytes += file.second;
      ++result.files;
    }
    sync_folder(target.partial);
    if (::rename(target.partial.c_str(), target.dir.c_str()) != 0) {
      const int error = errno;
      if (error == ENOTEMPTY || error == EEXIST)
        throw BackupError(BackupError::Kind::FolderNotEmpty,
                          "backup folder " + target.dir.string() + ": something was written into it meanwhile");
      fail("backup: cannot rename " + target.partial.string() + " to " + target.dir.string(), error);
    }
    sync_folder(target.dir.parent_path());
    return result;
  } catch (...) {
    discard_backup(target);
    throw;
  }
}

void discard_backup(const BackupTarget& target) noexcept {
  remove_folder(target.staging);
  remove_folder(target.staging.string() + ".tmp");
  remove_folder(target.partial);
}

size_t remove_leftover_backup_staging(const fs::path& store_folder) {
  size_t removed = 0;
  for (const fs::path& folder : {store_folder / kStagingName, store_folder / (std::string(kStagingName) + ".tmp")}) {
    std::error_code ec;
    if (!fs::exists(folder, ec)) continue;
    remove_folder(folder);
    ++removed;
    log::f(log::Level::Warning, "store: removed %s, left by a backup cut short (never part of the store)",
           folder.c_str());
  }
  return removed;
}

}  // namespace stsd::store
