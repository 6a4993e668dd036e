#pragma once
// The catalog zone (RFC 9432, schema version 2): one zone that lists every member zone
// stsd serves, so a secondary configured as its consumer (Knot's `catalog-role:
// interpret`, BIND's `catalog-zones`) adds and drops the member zones by itself.
//
//   <catalog>                 SOA  invalid. invalid. <serial> 300 60 2419200 0
//   <catalog>                 NS   invalid.                  (RFC 9432 §4.1)
//   version.<catalog>         TXT  "2"                       (§4.2.1)
//   <label>.zones.<catalog>   PTR  <member apex>             (§4.3)
//
// A member's label is 16 hex digits of a 64-bit FNV-1a hash of its lowercase name: the
// same member keeps the same label for as long as it is a member (§4.3 asks for a label
// unique within the catalog and stable: a new label makes consumers drop and re-add the
// zone). Two members whose hashes meet (about one in 2^64) are resolved in name order:
// the later takes the next free value.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/writer.h"
#include "journal.h"

namespace stsd::transfer {

// Members are handed around as their lowercase wire names in strings (a catalog of
// 100,000 members stays a few MB), sorted.
using MemberKeys = std::vector<std::string>;

// The 64-bit FNV-1a hash of octets (stable across builds and platforms).
uint64_t fnv1a(std::string_view octets, uint64_t seed = 0xcbf29ce484222325ull);
// The member set's digest (of the sorted keys).
uint64_t member_set_digest(const MemberKeys& members);

// What the catalog's serial is derived from, kept across restarts as a store fact
// ("<serial> <digest as 16 hex>").
struct CatalogSerial {
  uint32_t serial = 0;
  uint64_t digest = 0;
  friend bool operator==(const CatalogSerial&, const CatalogSerial&) = default;
};
std::optional<CatalogSerial> parse_catalog_fact(std::string_view text);
std::string format_catalog_fact(const CatalogSerial& state);
// The fact's name for a catalog apex ("transfer/catalog/<name without the final dot>").
std::string catalog_fact_name(const dns::Name& apex);

// The serial for the member set with `digest`: the previous one when the set is the
// same (a restart changes nothing a secondary holds); otherwise `now` when that is after
// the previous serial (RFC 1982 §3.2), else the previous serial plus one.
CatalogSerial next_catalog_serial(const std::optional<CatalogSerial>& previous, uint64_t digest, int64_t now);

// One version of the catalog: its content for the journal, and answers to queries at or
// below its apex. Immutable once built.
class CatalogZone {
 public:
  static constexpr uint32_t kTtl = 0;  // RFC 9432 §5: consumers ignore the TTLs

  // `members`: sorted, unique.
  CatalogZone(const dns::Name& apex, uint32_t serial, const MemberKeys& members);

  const dns::Name& apex() const { return apex_; }
  uint32_t serial() const { return serial_; }
  size_t member_count() const { return members_.size(); }
  // The label of `member`, empty when it is not a member (a scan: for tests and logs).
  std::string label_of(const dns::Name& member) const;

  // The whole zone (SOA first) as the journal keeps it.
  ZoneVersion version() const;

  // Answers a query whose name is at or below the apex (authoritative: SOA, NS, TXT,
  // PTR, NODATA and NXDOMAIN with the SOA, RFC 2308 §3). Allocates nothing.
  void answer(const dns::Request& request, dns::ResponseWriter& response) const;

 private:
  struct Member {
    uint64_t label = 0;
    uint32_t offset = 0;  // of its wire name in names_
    uint16_t size = 0;
    std::span<const uint8_t> name(const std::vector<uint8_t>& names) const { return {names.data() + offset, size}; }
  };
  const Member* find_label(std::string_view label) const;
  void answer_negative(dns::ResponseWriter& response, dns::Rcode rcode) const;

  dns::Name apex_;
  uint32_t serial_;
  dns::Name version_name_;  // version.<apex>
  dns::Name zones_name_;    // zones.<apex>
  std::vector<uint8_t> soa_rdata_;
  std::vector<uint8_t> ns_rdata_;
  std::vector<uint8_t> version_rdata_;
  std::vector<uint8_t> names_;   // the members' wire names, one after another
  std::vector<Member> members_;  // sorted by label
};

}  // namespace stsd::transfer
