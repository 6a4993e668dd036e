#pragma once
// A zone's records as one flat buffer of resource records in wire form (RFC 1035 §4.1.3,
// names uncompressed, class IN): the journal keeps every version and every difference
// this way, so a zone costs one allocation rather than one per record, and a transfer
// copies records into messages without decoding them.
#include <cstdint>
#include <span>
#include <vector>

#include "dns/writer.h"
#include "zone/source.h"

namespace stsd::transfer {

// One record inside a flat buffer (views into it).
struct WireRecord {
  std::span<const uint8_t> owner;  // uncompressed wire name
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  std::span<const uint8_t> rdata;
  std::span<const uint8_t> whole;  // owner through rdata
};

// Appends `record` (class IN) to `out`.
void append_record(std::vector<uint8_t>& out, const zone::Record& record);
// Appends a record already in wire form.
void append_record(std::vector<uint8_t>& out, const WireRecord& record);

// Reads the record at `offset` and advances it; false at the end (or on bytes this file
// did not write, which it never hands out).
bool next_record(std::span<const uint8_t> records, size_t& offset, WireRecord& out);

// The first record of a buffer (a zone's SOA); an empty record when there is none.
WireRecord first_record(std::span<const uint8_t> records);

// Octets the record takes uncompressed: an upper bound on what it adds to a message.
inline size_t wire_size(const WireRecord& record) { return record.whole.size(); }

// Adds `record` to `section` of `response` (the writer compresses names).
bool add_to_response(dns::ResponseWriter& response, dns::Section section, const WireRecord& record);

// The serial of SOA rdata (RFC 1035 §3.3.13: after MNAME and RNAME); 0 when malformed.
uint32_t soa_serial(std::span<const uint8_t> soa_rdata);

// Serial arithmetic (RFC 1982 §3.2, SERIAL_BITS = 32): whether `a` is after `b`, i.e. the
// difference modulo 2^32 lies strictly between 0 and 2^31 (undefined pairs count as not).
inline bool serial_after(uint32_t a, uint32_t b) {
  return a != b && static_cast<uint32_t>(a - b) < 0x80000000u;
}

}  // namespace stsd::transfer
