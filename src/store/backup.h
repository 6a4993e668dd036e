#pragma once
// Online backups of the store (PolicyStore::backup, issue 16): a RocksDB checkpoint, that
// is a complete store folder that stsd opens as it is (`storage:` pointing at it, or the
// folder copied into place), made while stsd serves and writes go on.
//
// Why a checkpoint and not RocksDB's BackupEngine: a checkpoint is a plain store folder,
// so restoring is "stop, put the folder in place, start" with cp or mv and nothing that
// must open RocksDB besides stsd itself (stsctl links no RocksDB); stsd's own start-up
// checks (every block checksum, a strict write-ahead log) then check the restored folder.
// BackupEngine's incremental, deduplicated backup folders need its restore step to become
// a store again. Copies of a checkpoint to other machines are made with ordinary tools.
//
// The steps, each undone when a later one fails, so that no folder named DIR ever holds
// less than a whole backup:
//  1. check DIR (absolute, its parent a folder, DIR absent or an empty folder, outside
//     the store's folder) before anything is written;
//  2. under the store's writer lock (writes wait, DNS does not): the checkpoint, in a
//     staging folder inside the store's folder, so on the store's file system: its table
//     files are hard links (RocksDB never changes a table file), the MANIFEST and the
//     write-ahead log are copied. No write is in flight, so the copied log ends with a
//     whole, synced write: the backup is exactly the store after the last write before
//     it, never part of a write. No memtable flush: a backup never writes a table file
//     into the live store (on a nearly full disk that would turn into a failed store);
//  3. the staging folder becomes `<parent of DIR>/.<name of DIR>.stsd-backup-partial`:
//     renamed on the same file system, else copied file by file (free space checked
//     first) and synced;
//  4. verified: opened read-only, every block checksum read, its domains counted and its
//     event sequence read, which must be what the store held at step 2;
//  5. renamed to DIR (atomically replacing an empty DIR), the parent folder synced.
// A crash leaves at most the staging folder inside the store's folder (removed when the
// store opens) or the `.stsd-backup-partial` folder (removed by the next backup to the
// same DIR): never a folder named DIR.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "store/errors.h"

namespace rocksdb {
class DB;
}

namespace stsd::store {

// What a backup holds, as read back from it (step 4).
struct BackupResult {
  std::filesystem::path dir;
  size_t domains = 0;
  uint64_t event_seq = 0;  // the newest event's sequence number in the backup (0: none)
  uint64_t bytes = 0;      // the files' sizes
  size_t files = 0;
  double seconds = 0;      // the whole backup, from the check of DIR to the last sync
};

// A backup refused or failed; nothing named DIR was left behind.
class BackupError : public StoreError {
 public:
  enum class Kind {
    BadFolder,       // DIR is not a usable place for a backup (the message says why)
    FolderNotEmpty,  // DIR exists and holds something
    NoSpace,         // DIR's file system is full (or too small for this backup)
    Failed,          // another failure (read-only file system, permissions, I/O)
  };
  BackupError(Kind kind, const std::string& message) : StoreError(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Where a backup of the store in `store_folder` to `dir` goes, checked (step 1). Throws
// BackupError naming DIR and the reason.
struct BackupTarget {
  std::filesystem::path dir;      // normalized, absolute
  std::filesystem::path partial;  // <parent>/.<name>.stsd-backup-partial
  std::filesystem::path staging;  // inside the store's folder
};
BackupTarget check_backup_target(const std::filesystem::path& dir, const std::filesystem::path& store_folder);

// Step 2: the checkpoint of `db` in target.staging. Call under the store's writer lock.
void create_checkpoint(rocksdb::DB& db, const BackupTarget& target);

// The store's numbers at the checkpoint, which the backup must hold.
struct BackupExpectation {
  size_t domains = 0;
  uint64_t event_seq = 0;
};

// Steps 3 to 5, after the writer lock is released. Removes what it made when it fails.
BackupResult finish_backup(const BackupTarget& target, const BackupExpectation& expected);

// Removes what a backup cut short left inside the store's folder (a staging folder: never
// part of the store). Called when the store opens; returns how many folders it removed.
size_t remove_leftover_backup_staging(const std::filesystem::path& store_folder);

// Removes every folder a failed backup made (the staging and partial folders).
void discard_backup(const BackupTarget& target) noexcept;

}  // namespace stsd::store
