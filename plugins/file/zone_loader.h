#pragma once
// Reading RFC 1035 §5 master files into a Zone, with ldns parsing each record and
// this loader handling the directives ($ORIGIN, $TTL, $INCLUDE), line numbers and the
// checks that make a zone servable.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "dns/name.h"
#include "zone.h"

namespace stsd::file {

// "<file>:<line>: <reason>", naming the master file (or included file) at fault.
class ZoneError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Records without a TTL and before any $TTL get this one (ldns's default).
inline constexpr uint32_t kDefaultTtl = 3600;
// $INCLUDE nesting beyond this is refused (and include loops always are).
inline constexpr size_t kMaxIncludeDepth = 8;

// Loads the zone `apex` from `path`. Throws ZoneError on any syntax or consistency
// problem: exactly one SOA, at the apex; NS at the apex; no owner outside the zone;
// CNAME alone at its name; only glue below a delegation; class IN only.
std::shared_ptr<const Zone> load_zone(const dns::Name& apex, const std::filesystem::path& path);

}  // namespace stsd::file
