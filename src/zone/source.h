#pragma once
// Zones as data, for the parts of stsd that hand zones to other servers (zone transfers,
// NOTIFY, the catalog zone): a plugin that serves zones describes them through a
// zone::Source; the transfer side reads every source through zone::Sources. The core
// knows neither side by name (CoreDNS's Transferer interface plays the same role).
//
// A source's contract:
//  - list() and render() are called from a background thread, concurrently with queries;
//    they read the same published state the plugin answers from and never block on a
//    write.
//  - A zone's serial changes whenever its content does, never goes back (RFC 1982
//    arithmetic) and is the serial the plugin's own SOA answers carry at that moment, so
//    a secondary that asks the SOA and then transfers sees one zone.
//  - render() returns the zone as the plugin answers it now: the apex SOA first, then
//    every other record (class IN), names in lowercase.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dns/name.h"

namespace stsd::zone {

// One resource record of a zone; `rdata` is uncompressed wire form (RFC 3597 §4).
struct Record {
  dns::Name owner;
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;

  friend bool operator==(const Record&, const Record&) = default;
};

struct Content {
  uint32_t serial = 0;
  std::vector<Record> records;  // records[0] is the apex SOA
};

struct ZoneEntry {
  dns::Name apex;
  uint32_t serial = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  // Appends every zone this source serves now, with its current serial. Called about
  // once a second: O(zones), no disk, no allocation per zone beyond `out`'s growth.
  virtual void list(std::vector<ZoneEntry>& out) const = 0;
  // The zone's full content now; nullopt when the source does not serve `apex` (any more).
  virtual std::optional<Content> render(const dns::Name& apex) const = 0;
};

// Every source of the process (shared through Environment::shared under kSharedKey).
// A plugin adds its source when its chain goes live (PendingLoad::on_commit) under a key
// naming the plugin and its server block; the chain built by a reload replaces the old
// source under the same key, and dropping the handle removes the source unless it was
// replaced meanwhile.
class Sources {
 public:
  static constexpr const char* kSharedKey = "zone_sources";
  using Handle = std::shared_ptr<void>;

  [[nodiscard]] Handle add(std::string key, std::shared_ptr<const Source> source);
  // The sources now, in key order.
  std::vector<std::shared_ptr<const Source>> snapshot() const;
  // Increases whenever a source is added, replaced or removed.
  uint64_t generation() const;

 private:
  struct Slot {
    std::string key;
    std::shared_ptr<const Source> source;
  };
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;  // sorted by key
  uint64_t generation_ = 0;
};

}  // namespace stsd::zone
