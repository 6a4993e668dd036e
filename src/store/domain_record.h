#pragma once
// A domain's full state as the store keeps it: settings, the staged and confirmed
// pointers (with the versions they point to), the confirmation, a hold, the numbering,
// the change times DNS serials follow, and a retirement in progress. Read from RocksDB when a writer or an admin
// read needs it; never kept in memory.
#include <cstdint>
#include <memory>
#include <optional>

#include "store/records.h"

namespace stsd::store {

struct DomainRecord {
  DomainSettings settings;
  int64_t created_at = 0;
  std::shared_ptr<const PolicyVersion> staged, confirmed;
  std::optional<Confirmation> confirmation;
  std::optional<Hold> hold;
  // Verified rotation (issue 11): the id may not enter a period that starts after this
  // instant; set from the confirmer's evidence. Absent: no verifier gates the domain.
  std::optional<int64_t> rotate_until;
  uint32_t last_number = 0;  // the newest version number ever given (never reused)
  int64_t txt_changed_at = 0;
  int64_t settings_changed_at = 0;
  std::optional<Retirement> retirement;  // store/retirement.h
};

// A staged version newer than the confirmed one: the confirmer's work list.
inline bool is_pending(const DomainRecord& r) {
  return r.staged && (!r.confirmed || r.staged->number > r.confirmed->number);
}

}  // namespace stsd::store
