#pragma once
// Reading RFC 1035 §5 master files into records, with ldns parsing each record and
// this reader handling the directives ($ORIGIN, $TTL, $INCLUDE), line numbers, TTL
// bounds and what may be read (src/file_input.h: regular files only, a size budget,
// $INCLUDE confined to allowed folders, no content of private files in messages).
// zone_loader.cpp turns the records into a Zone.
#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"
#include "zone_loader.h"

namespace stsd::file {

// A file read for the zone: its name as shown in messages, and whether its content may
// be quoted in them (other users may read it).
struct SourceFile {
  std::string name;
  bool others_may_read = false;
};

// Where a record or directive came from.
struct Location {
  const SourceFile* file = nullptr;
  int line = 0;
  std::string text() const { return file->name + ":" + std::to_string(line); }
};

[[noreturn]] void fail(const Location& at, const std::string& message);

struct SourceRecord {
  dns::Name owner;  // lowercased
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;
  Location at;
};

struct MasterFile {
  std::deque<SourceFile> files;  // every file read; Locations point here
  std::vector<SourceRecord> records;
  Location end;  // the last line read, where "the zone has no SOA" is reported
};

// Reads `path` and what it includes into `out` (records in file order). Throws
// ZoneError naming file:line and the reason.
void read_master_file(const std::filesystem::path& path, const dns::Name& origin, const ZoneFileRules& rules,
                      MasterFile& out);

// "3600", "1h", "1h30m", "2w" (BIND's units); nullopt when malformed or above
// 2^31 - 1 (RFC 2181 §8).
std::optional<uint32_t> parse_ttl(std::string_view text);

}  // namespace stsd::file
