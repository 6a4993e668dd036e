#pragma once
// Opening the store: the schema guard, the migration of older schemas, and the one
// sequential scan of the served records that builds the in-memory index.
#include <cstdint>
#include <set>
#include <string>

#include "store/disk.h"
#include "store/served_index.h"
#include "store/time_floor.h"

namespace stsd::store {

struct LoadedStore {
  uint64_t event_seq = 0;         // the last event sequence number given
  int64_t newest_change = 0;      // Unix seconds of the newest change (service-zone SOA serial)
  std::set<std::string> pending;  // domains whose staged version is unconfirmed
  int64_t aligned_until = 0;      // RotationSchedule::aligned_until
};

// Refuses a store written by a newer schema (StoreError), migrates an older store in
// place (`unix_now`: the migration time), writes the schema key into an empty store, then
// fills `index` (which must be empty) from the served records.
LoadedStore load_store(const Disk& disk, ServedIndex& index, int64_t unix_now);

// The persisted time lease (none in a store that never had one). StoreError when the key
// holds something else.
TimeFloor::Lease read_time_floor(const Disk& disk);

}  // namespace stsd::store
