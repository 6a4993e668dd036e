#pragma once
// A large write committed as one table file instead of through the write-ahead log and
// the memtable (issue 15: a million domains in ten seconds). On the reference machine a
// million domains of our key shape take 16 s as synced WriteBatches of 10,000 domains,
// and 4.1 s as one sorted, ingested table file per 10,000 domains.
//
// The guarantees are those of a synced WriteBatch:
// * all or nothing: RocksDB adds the file to the database in one MANIFEST record, or not
//   at all; a failure before that leaves the database as it was and the file is removed;
// * durable when acknowledged: the file is synced before it is ingested, and the
//   MANIFEST record is synced before IngestExternalFile returns;
// * ordered: the file gets a sequence number after every earlier write (RocksDB flushes
//   a memtable holding keys of the file's range first), so the last write of a key wins;
//   snapshots taken before see nothing of it;
// * a crash leaves at most a file named kIngestFilePrefix* beside the database, never
//   part of the database: Database removes such files when it opens the folder.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace stsd::store {

// Batches of at least this many operations are ingested (Disk::try_commit). Below it a
// synced WriteBatch is cheaper: an ingestion costs two file syncs, a directory sync and a
// MANIFEST write whatever its size (bench/micro, BM_StoreCommit).
inline constexpr size_t kIngestMinOperations = 4096;

// Table files being written for ingestion are named `<kIngestFilePrefix><n>.sst`.
inline constexpr std::string_view kIngestFilePrefix = "stsd-ingest-";

// Commits `batch` to `db` by writing its operations, sorted by key with the last
// operation of a key winning, into a table file in `folder` (the database's own folder:
// the file is moved, not copied) and ingesting it. nullopt when the batch holds anything
// but puts and deletes of the default column family (the caller writes it the ordinary
// way); "" when committed; else why it failed, and then nothing was written.
std::optional<std::string> ingest_batch(rocksdb::DB& db, const std::filesystem::path& folder,
                                        const rocksdb::WriteBatch& batch);

// Removes the table files an ingestion cut short by a crash left in `folder`; returns how
// many. They were never part of the database.
size_t remove_leftover_ingest_files(const std::filesystem::path& folder);

}  // namespace stsd::store
