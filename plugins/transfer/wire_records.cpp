#include "wire_records.h"

#include <algorithm>

#include "dns/name.h"
#include "dns/types.h"

namespace stsd::transfer {

namespace {

constexpr size_t kFixedFields = 10;  // type, class, ttl, rdlength

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// Length of the uncompressed name at `offset`, or 0 when it runs past the end.
size_t name_length(std::span<const uint8_t> bytes, size_t offset) {
  size_t at = offset;
  while (at < bytes.size()) {
    const uint8_t label = bytes[at];
    if (label == 0) return at + 1 - offset;
    if (label > dns::kMaxLabelLength) return 0;
    at += 1 + label;
  }
  return 0;
}

}  // namespace

void append_record(std::vector<uint8_t>& out, const zone::Record& record) {
  const auto owner = record.owner.wire();
  out.reserve(out.size() + owner.size() + kFixedFields + record.rdata.size());
  out.insert(out.end(), owner.begin(), owner.end());
  put16(out, record.type);
  put16(out, dns::rrclass::IN);
  put16(out, static_cast<uint16_t>(record.ttl >> 16));
  put16(out, static_cast<uint16_t>(record.ttl));
  put16(out, static_cast<uint16_t>(record.rdata.size()));
  out.insert(out.end(), record.rdata.begin(), record.rdata.end());
}

void append_record(std::vector<uint8_t>& out, const WireRecord& record) {
  out.insert(out.end(), record.whole.begin(), record.whole.end());
}

bool next_record(std::span<const uint8_t> records, size_t& offset, WireRecord& out) {
  const size_t owner_size = name_length(records, offset);
  if (owner_size == 0) return false;
  const size_t fixed = offset + owner_size;
  if (fixed + kFixedFields > records.size()) return false;
  const uint8_t* p = records.data() + fixed;
  const uint16_t rdlength = get16(p + 8);
  const size_t end = fixed + kFixedFields + rdlength;
  if (end > records.size()) return false;
  out.owner = records.subspan(offset, owner_size);
  out.type = get16(p);
  out.rclass = get16(p + 2);
  out.ttl = get32(p + 4);
  out.rdata = records.subspan(fixed + kFixedFields, rdlength);
  out.whole = records.subspan(offset, end - offset);
  offset = end;
  return true;
}

WireRecord first_record(std::span<const uint8_t> records) {
  WireRecord record;
  size_t offset = 0;
  if (!next_record(records, offset, record)) return {};
  return record;
}

bool add_to_response(dns::ResponseWriter& response, dns::Section section, const WireRecord& record) {
  const auto owner = dns::Name::from_wire(record.owner);
  if (!owner) return false;
  return response.add(section, dns::RecordRef{*owner, record.type, record.rclass, record.ttl, record.rdata});
}

uint32_t soa_serial(std::span<const uint8_t> rdata) {
  const size_t mname = name_length(rdata, 0);
  if (mname == 0) return 0;
  const size_t rname = name_length(rdata, mname);
  if (rname == 0 || mname + rname + 4 > rdata.size()) return 0;
  return get32(rdata.data() + mname + rname);
}

}  // namespace stsd::transfer
