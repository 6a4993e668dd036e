#pragma once
// The store's key layout in RocksDB (default column family, all under "mtasts/" so the
// database can be shared):
//   mtasts/schema                 "3"                         schema version of this layout
//   mtasts/event_seq              decimal                     last event sequence number
//   mtasts/aligned_until          decimal                     when a schema-2 store was migrated
//                                                             (RotationSchedule::aligned_until)
//   mtasts/time_floor             "<seen> <until>"            the store's time lease (store/time_floor.h)
//   mtasts/last_change            decimal                     PolicyStore::last_change() (a removal or
//                                                             a hold release leaves no record time)
//   mtasts/d/<domain>             JSON DomainRecord           settings + staged/confirmed pointers
//   mtasts/s/<domain>             binary served record        what DNS needs (schema 2)
//   mtasts/v/<domain>/<%010u>     JSON version                immutable numbered policy versions
//   mtasts/n/<domain>             decimal                     last version number of a removed domain
//   mtasts/e/<domain>/<%020u>     JSON event                  append-only event log
//   mtasts/r/<domain>             decimal or ""               a retiring domain: its removal time,
//                                                             "" until it is fixed (the sweeper's
//                                                             list; the retirement is in mtasts/d/)
//   mtasts/f/<name>               text                        a fact another part keeps (PolicyStore::fact)
//   mtasts/x/<space>/<key>        the space owner's           records of another part (space_records.h)
// <domain> is the normalized name (normalize_domain). The fixed-width numbers make
// RocksDB's bytewise order the numeric order.
#include <cstdint>
#include <string>
#include <string_view>

namespace stsd::store::keys {

inline constexpr std::string_view kSchema = "mtasts/schema";
inline constexpr std::string_view kEventSeq = "mtasts/event_seq";
inline constexpr std::string_view kAlignedUntil = "mtasts/aligned_until";
inline constexpr std::string_view kTimeFloor = "mtasts/time_floor";
inline constexpr std::string_view kLastChange = "mtasts/last_change";
inline constexpr std::string_view kDomainPrefix = "mtasts/d/";
inline constexpr std::string_view kServedPrefix = "mtasts/s/";
inline constexpr std::string_view kServedEnd = "mtasts/s0";  // '0' follows '/': the prefix's upper bound
inline constexpr std::string_view kVersionPrefix = "mtasts/v/";
inline constexpr std::string_view kLastNumberPrefix = "mtasts/n/";
inline constexpr std::string_view kLastNumberEnd = "mtasts/n0";
inline constexpr std::string_view kEventPrefix = "mtasts/e/";
inline constexpr std::string_view kRetiringPrefix = "mtasts/r/";
inline constexpr std::string_view kFactPrefix = "mtasts/f/";
inline constexpr std::string_view kSpacePrefix = "mtasts/x/";

std::string domain(std::string_view domain);
std::string served(std::string_view domain);
std::string last_number(std::string_view domain);
std::string version_prefix(std::string_view domain);  // every version of `domain`
std::string version(std::string_view domain, uint32_t number);
std::string event_prefix(std::string_view domain);  // every event of `domain`
std::string event(std::string_view domain, uint64_t seq);
std::string retiring(std::string_view domain);

}  // namespace stsd::store::keys
