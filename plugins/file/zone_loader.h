#pragma once
// Loading a zone: its master file read into records (master_file.h), then the checks
// that make a zone servable.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <vector>

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
// RFC 2181 §8: a TTL is at most 2^31 - 1; larger ones are refused.
inline constexpr uint32_t kMaxTtl = 0x7fffffff;
// $INCLUDE nesting beyond this is refused (and include loops always are).
inline constexpr size_t kMaxIncludeDepth = 8;
// The zone file and every file it includes, together: at most this many bytes unless
// the zone's `max_bytes` says otherwise. Memory stays bounded whatever a file holds.
inline constexpr uint64_t kDefaultMaxZoneBytes = 256ull * 1024 * 1024;

// What a zone's files may be.
struct ZoneFileRules {
  // Folders $INCLUDE may read from (and below) besides the zone file's own folder.
  std::vector<std::filesystem::path> include_folders;
  uint64_t max_bytes = kDefaultMaxZoneBytes;
};

// Loads the zone `apex` from `path`. Throws ZoneError on any syntax or consistency
// problem: exactly one SOA, at the apex; NS at the apex; no owner outside the zone;
// CNAME alone at its name; only glue below a delegation; class IN only; a TTL above
// 2^31 - 1; a file that is not a regular text file, lies outside the allowed folders
// ($INCLUDE) or takes the zone above `rules.max_bytes`.
std::shared_ptr<const Zone> load_zone(const dns::Name& apex, const std::filesystem::path& path,
                                      const ZoneFileRules& rules = {});

}  // namespace stsd::file
