#pragma once
// The block checksums of every table file, verified in the background once the store is
// open (README.md, "Faults"), so that DNS answers first: at 6.8M domains reading the whole
// store before the first answer took 6-8 s (issue 15).
//
// Why waiting is safe. What DNS answers is checked before it is served: opening RocksDB
// reads every table file's index, filter and properties blocks with their checksums, and
// the start-up scan of the served records (loader.cpp) verifies each block it reads
// (ReadOptions::verify_checksums). Damage there still stops the start. What is left are
// the blocks of records read one at a time later (domain records, versions, events, other
// parts' records), which a read verifies too, when it comes.
//
// It starts once the served records are loaded (load_store), so that it does not compete
// with that scan for the disk and the CPU. Damage found here degrades the store to
// "refuse writes, keep serving" (WriteGuard): a write builds on the records it reads, and
// nothing stsd does repairs a table file, so writes stay refused until stsd is restarted
// on a restored store; DNS keeps answering from memory. No readiness gate waits for the
// verification, on purpose: DNS is ready before it ends.
//
// It runs on a thread of its own at the lowest CPU and I/O priority, reading the files by
// name through a file system of its own that fails every read once stop() is called: the
// store closing waits for at most one read (4 MiB). It never holds the store's writer
// lock, and holds the database's read lock only to list the live files (a reopen, which
// replaces the instance, never waits for a file to be read).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/options.h>

#include "store/records.h"

namespace rocksdb {
class Env;
}

namespace stsd::store {

struct TableFile {
  std::string path;
  uint64_t size = 0;
  // RocksDB needs it to read an ingested file (bulk_commit.h): its global sequence number.
  uint64_t largest_seqno = 0;
};

class ChecksumVerification {
 public:
  // The database's live table files now; nullopt when it cannot be read (being reopened).
  using ListFiles = std::function<std::optional<std::vector<TableFile>>()>;

  // `options`: how the database reads its table files (table format, Env, log); `folder`
  // names the store in messages.
  ChecksumVerification(std::filesystem::path folder, const rocksdb::Options& options, ListFiles list_files);
  ~ChecksumVerification();
  ChecksumVerification(const ChecksumVerification&) = delete;
  ChecksumVerification& operator=(const ChecksumVerification&) = delete;

  // Starts the thread; once (later calls do nothing).
  void start();
  // The read in progress fails and the thread ends; returns once it has.
  void stop();
  ChecksumCheck state() const;

 private:
  void run();
  // Reads and checks one file; OK, or why it is damaged, or Aborted when stopped.
  rocksdb::Status verify(const TableFile& file) const;
  bool still_live(const TableFile& file) const;
  void found_damage(const TableFile& file, const rocksdb::Status& status);
  // Records the end; returns the state as it ended.
  ChecksumCheck finish(ChecksumCheck::State state);

  const std::filesystem::path folder_;
  const ListFiles list_files_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<rocksdb::Env> env_;  // reads through a file system that honours stopping_
  rocksdb::Options options_;           // the database's, reading through env_
  std::chrono::steady_clock::time_point started_{};
  mutable std::mutex mutex_;  // state_
  ChecksumCheck state_;
  std::thread thread_;
};

}  // namespace stsd::store
