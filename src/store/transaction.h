#pragma once
// One write to the store while it is being built: what a writer reads (the committed
// records; the writer lock is held) and what it adds (records, versions, events). The
// write frame (PolicyStore::write) commits it in one synced WriteBatch and then applies
// its changed domains to the served index.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <rocksdb/write_batch.h>

#include "store/disk.h"
#include "store/domain_record.h"
#include "store/served_index.h"
#include "store/served_record.h"

namespace stsd::store {

// Room a domain's wire name must leave for the names the DNS plugin serves under it.
struct NameRoom {
  size_t octets = 11;  // `_smtp._tls.` (NS delegation)
  std::string why = "_smtp._tls.<domain>. must fit in 255 octets";
};

class Transaction {
 public:
  Transaction(const Disk& disk, const ServedIndex& index, const NameRoom& room, uint64_t event_seq, int64_t now);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // The time of this write (Unix seconds): every record and event of it carries it.
  int64_t now() const { return now_; }
  // The change time to record for what was last changed at `previous`: this write's time,
  // but always after `previous` and after the change floor (PolicyStore::raise_change_floor),
  // so two changes within one second still get two zone serials (a serial shows a change
  // at t as t + 1, mtasts/zone_records.h).
  int64_t change_stamp(int64_t previous) const { return std::max({now_, previous + 1, change_floor_ + 1}); }
  void set_change_floor(int64_t floor) { change_floor_ = floor; }

  // --- reads (the store as committed) ---
  bool contains(const std::string& domain) const { return index_.contains(domain); }
  // The domain's record; PolicyError when the domain is not in the store.
  DomainRecord existing(const std::string& domain) const;
  std::optional<PolicyVersion> version(const std::string& domain, uint32_t number) const;
  // PolicyError when `domain` leaves too little room for the names served under it.
  void check_name_room(const std::string& domain) const;
  // The committed records, for reads the methods above do not cover (a domain's history).
  const Disk& disk() const { return disk_; }

  // --- writes ---
  // The last version number a removed domain of this name left (nullopt when none), which
  // a re-added domain continues from.
  std::optional<uint32_t> kept_numbering(const std::string& domain) const;
  // kept_numbering() of each of `sorted` (ascending, no repeats), in that order: one walk
  // over the kept numbers instead of a read per domain (most domains of an import have
  // none, and a read of a missing key probes every level-0 file's filter).
  std::vector<std::optional<uint32_t>> kept_numberings(const std::vector<std::string_view>& sorted) const;
  // That number (0 when none), dropped in this write; `kept`: what kept_numbering() said
  // in this write (one read less per added domain).
  uint32_t resume_numbering(const std::string& domain, std::optional<uint32_t> kept);
  uint32_t resume_numbering(const std::string& domain) { return resume_numbering(domain, kept_numbering(domain)); }
  void put_version(const std::string& domain, const PolicyVersion& version);
  // Writes the domain's record; its served record and the index follow it, and so does its
  // entry in the list of retiring domains (keys::retiring).
  void put_record(const std::string& domain, const DomainRecord& record);
  // Removes the domain's record, versions and served record, keeping `last_number` so a
  // re-added domain never reuses a version number.
  void remove_domain(const std::string& domain, uint32_t last_number);
  void add_event(const std::string& domain, std::string kind, uint32_t version, std::string detail);

  // --- for the write frame ---
  struct ServedChange {
    std::string domain;
    std::optional<Facts> facts;  // nullopt: removed
  };
  bool empty() const { return batch_.Count() == 0; }
  // Room for `bytes` of writes to `domains` domains, taken at once: a batch grown by
  // doubling copies itself again and again (a fifth of an import's time at 5,000 domains a
  // request). Before the first write only.
  void reserve(size_t domains, size_t bytes) {
    if (!empty()) return;
    batch_ = rocksdb::WriteBatch(bytes);
    changed_.reserve(domains);
  }
  // Adds the served record of every changed domain and the last event number to the
  // batch, and returns the changes the index must apply after the commit, one a domain,
  // in key order. Throws
  // StoreError before anything is written.
  std::vector<ServedChange> finish();
  rocksdb::WriteBatch& batch() { return batch_; }
  uint64_t event_count() const { return events_; }

 private:
  const Disk& disk_;
  const ServedIndex& index_;
  const NameRoom& room_;
  const uint64_t event_seq_;
  const int64_t now_;
  int64_t change_floor_ = 0;
  rocksdb::WriteBatch batch_;
  uint64_t events_ = 0;
  // The records this write changes, as written (nullopt: removed); finish() keeps the
  // last of each domain.
  void note_change(const std::string& domain, std::optional<DomainRecord> record);
  std::vector<std::pair<std::string, std::optional<DomainRecord>>> changed_;
  // Domains `existing` read with a retirement: a record written without one drops them
  // from the list of retiring domains.
  mutable std::unordered_set<std::string> read_retiring_;
};

}  // namespace stsd::store
