#pragma once
// The transfer journal: per zone, its content now (one flat wire buffer) and the
// differences between its recent versions, so an IXFR (RFC 1995) sends what changed and
// not the whole zone. In memory only: it starts empty at each start of the process and is
// kept across reloads (docs/secondaries.md says what a secondary sees after a restart).
//
// The differences of every zone together stay under a bound in octets; above it the
// oldest difference of the whole journal goes first, and a secondary that still holds
// the version before it gets an AXFR-style answer (RFC 1995 §4).
//
// Thread-safe: the tracker's thread records, transfers read; what a reader receives is
// immutable and shared, so a transfer in progress is never disturbed by a new version.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/name.h"
#include "zone/source.h"

namespace stsd::transfer {

// One version of a zone: its records in wire form, the SOA first (wire_records.h).
struct ZoneVersion {
  uint32_t serial = 0;
  std::vector<uint8_t> records;
};

// From version `from` to version `to` (RFC 1995 §4: the old SOA and the records it loses,
// then the new SOA and the records it gains).
struct ZoneDiff {
  uint32_t from = 0;
  uint32_t to = 0;
  std::vector<uint8_t> removed;  // old SOA first
  std::vector<uint8_t> added;    // new SOA first
  size_t bytes() const { return removed.size() + added.size(); }
};

// A source's content as the journal keeps it.
ZoneVersion version_of(const zone::Content& content);

// The difference between two versions; records are compared as wire octets (a TTL
// change is a removal and an addition).
ZoneDiff diff_versions(const ZoneVersion& from, const ZoneVersion& to);

// What an IXFR from `client_serial` gets (RFC 1995 §4).
struct IxfrPlan {
  enum class Kind { UpToDate, Incremental, Full };
  Kind kind = Kind::Full;
  std::shared_ptr<const ZoneVersion> current;
  std::vector<std::shared_ptr<const ZoneDiff>> diffs;  // in order, for Incremental
};

class Journal {
 public:
  explicit Journal(size_t max_bytes) : max_bytes_(max_bytes) {}
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // A reload's bound; applied at once (oldest differences dropped).
  void set_max_bytes(size_t max_bytes);

  enum class Outcome {
    Added,      // a zone the journal did not hold
    Changed,    // a newer serial: a difference was journaled
    Unchanged,  // the same serial: nothing recorded
    Reset,      // a serial that is not newer (RFC 1982): the history was dropped
  };
  // Records `version` (its SOA first) as `apex`'s version now.
  Outcome record(const dns::Name& apex, ZoneVersion version);
  // Forgets a zone; false when it was not held.
  bool remove(const dns::Name& apex);

  std::optional<uint32_t> serial(const dns::Name& apex) const;
  std::shared_ptr<const ZoneVersion> current(const dns::Name& apex) const;
  IxfrPlan plan_ixfr(const dns::Name& apex, uint32_t client_serial) const;

  size_t zone_count() const;
  // Octets of the journaled differences (what the bound applies to).
  size_t journal_bytes() const;
  // Octets of the zones' current contents.
  size_t content_bytes() const;

 private:
  struct ZoneState {
    std::shared_ptr<const ZoneVersion> current;
    std::vector<std::shared_ptr<const ZoneDiff>> diffs;  // oldest first, chained
  };
  // A journaled difference, in the order it was recorded (for eviction).
  struct Journaled {
    std::weak_ptr<ZoneState> zone;
    std::weak_ptr<const ZoneDiff> diff;
  };

  static std::string key_of(const dns::Name& apex);
  std::shared_ptr<ZoneState> find(const dns::Name& apex) const;
  void drop_history(ZoneState& zone);
  void evict_over_bound();

  mutable std::mutex mutex_;
  size_t max_bytes_;
  size_t journal_bytes_ = 0;
  size_t content_bytes_ = 0;
  std::unordered_map<std::string, std::shared_ptr<ZoneState>> zones_;  // by lowercase wire apex
  std::deque<Journaled> order_;
};

}  // namespace stsd::transfer
