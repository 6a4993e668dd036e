#include "dns/message.h"

#include <algorithm>
#include <cstring>

#include "dns/edns.h"
#include "dns/tsig.h"

namespace stsd::dns {
namespace {
inline uint16_t get16(std::span<const uint8_t> p, size_t at) { return static_cast<uint16_t>(p[at] << 8 | p[at + 1]); }
inline uint32_t get32(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint32_t>(p[at]) << 24 | static_cast<uint32_t>(p[at + 1]) << 16 |
         static_cast<uint32_t>(p[at + 2]) << 8 | p[at + 3];
}

enum class RrResult { Ok, Malformed };

// Where a record sits in the query, which decides what it may be.
enum class Place { AnswerOrAuthority, Additional, LastAdditional };

// OPT (RFC 6891 §6.1.1): only in the additional section, owner the root, at most one.
// Options we do not know are ignored (RFC 6891 §6.1.2) but must be well formed. An OPT
// that is well formed but asks for something invalid (two COOKIE options) is taken in
// and still Malformed: the FORMERR then carries OPT (RFC 6891 §7).
RrResult decode_opt(std::span<const uint8_t> packet, size_t offset, size_t end, const Name& owner, uint16_t rclass,
                    uint32_t ttl, Place place, Request& out) {
  if (place == Place::AnswerOrAuthority || !owner.is_root() || out.edns.present) return RrResult::Malformed;
  bool second_cookie = false;
  for (size_t pos = offset; pos < end;) {
    if (pos + 4 > end) return RrResult::Malformed;
    const uint16_t code = get16(packet, pos);
    const uint16_t option_length = get16(packet, pos + 2);
    pos += 4;
    if (pos + option_length > end) return RrResult::Malformed;
    switch (code) {
      case edns_option::NSID:
        out.edns.nsid_requested = true;
        break;
      case edns_option::TCP_KEEPALIVE:
        out.edns.keepalive_requested = true;
        break;
      case edns_option::COOKIE:
        second_cookie = second_cookie || out.edns.cookie_present;  // RFC 7873 §5.2.2: one at most
        out.edns.cookie_present = true;
        if (!second_cookie) out.edns.cookie = packet.subspan(pos, option_length);
        break;
    }
    pos += option_length;
  }
  out.edns.present = true;
  out.edns.udp_size = rclass;
  out.edns.version = static_cast<uint8_t>((ttl >> 16) & 0xff);
  out.edns.dnssec_ok = (ttl & 0x8000) != 0;
  return second_cookie ? RrResult::Malformed : RrResult::Ok;
}

// TSIG (RFC 8945 §4.2, §5.1): the last additional record, class ANY, TTL 0, its RDATA
// laid out exactly (algorithm name, time, fudge, MAC, original ID, error, other data).
// Only the layout is checked here; tsig::verify_request checks the rest.
bool tsig_layout_ok(std::span<const uint8_t> packet, size_t offset, size_t end, uint16_t rclass, uint32_t ttl,
                    Place place) {
  if (place != Place::LastAdditional || rclass != rrclass::ANY || ttl != 0) return false;
  Name algorithm;
  size_t pos = offset;
  if (!read_name(packet, pos, algorithm) || pos + 10 > end) return false;
  pos += 8;  // time signed (48 bits), fudge
  const size_t mac_size = get16(packet, pos);
  pos += 2 + mac_size;
  if (pos + 6 > end) return false;
  const size_t other_size = get16(packet, pos + 4);
  return pos + 6 + other_size == end;
}

// IXFR (RFC 1995 §3): the authority section holds the client's SOA for the zone asked.
bool read_ixfr_soa(std::span<const uint8_t> packet, size_t offset, size_t end, const Name& owner, Request& out) {
  if (!(owner == out.question.name)) return false;
  Name mname, rname;
  size_t pos = offset;
  if (!read_name(packet, pos, mname) || !read_name(packet, pos, rname) || pos + 20 != end) return false;
  out.ixfr_serial = get32(packet, pos);
  return true;
}

// Decodes one resource record of the answer, authority or additional section: OPT,
// TSIG and the IXFR SOA are taken in; other records are only checked to be well formed.
RrResult decode_rr(std::span<const uint8_t> packet, size_t& offset, Section section, Place place, Request& out) {
  const size_t record_start = offset;
  Name owner;
  if (!read_name(packet, offset, owner)) return RrResult::Malformed;
  if (offset + 10 > packet.size()) return RrResult::Malformed;
  const uint16_t type = get16(packet, offset);
  const uint16_t rclass = get16(packet, offset + 2);
  const uint32_t ttl = get32(packet, offset + 4);
  const uint16_t rdlength = get16(packet, offset + 8);
  offset += 10;
  const size_t end = offset + rdlength;
  if (end > packet.size()) return RrResult::Malformed;
  const size_t rdata = offset;
  offset = end;
  switch (type) {
    case rrtype::OPT:
      return decode_opt(packet, rdata, end, owner, rclass, ttl, place, out);
    case tsig::kType:
      if (!tsig_layout_ok(packet, rdata, end, rclass, ttl, place)) return RrResult::Malformed;
      out.tsig_offset = static_cast<uint16_t>(record_start);
      return RrResult::Ok;
    case rrtype::SOA:
      if (section != Section::Authority || out.question.type != rrtype::IXFR) return RrResult::Ok;
      if (out.ixfr_serial || !read_ixfr_soa(packet, rdata, end, owner, out)) return RrResult::Malformed;
      return RrResult::Ok;
    default:
      return RrResult::Ok;
  }
}
}  // namespace

size_t Request::max_response_size(uint16_t our_udp_limit) const {
  if (transport == Transport::Tcp) return 65535;
  if (!edns.present) return kClassicUdpSize;
  const uint16_t limit = std::max<uint16_t>(our_udp_limit, kClassicUdpSize);
  return std::clamp<uint16_t>(edns.udp_size, kClassicUdpSize, limit);
}

bool read_name(std::span<const uint8_t> packet, size_t& offset, Name& out) {
  uint8_t* dst = out.mutable_data();
  size_t len = 0;
  size_t pos = offset;
  bool jumped = false;
  // Each pointer must go strictly backwards, which bounds the walk and rules out loops.
  size_t lowest_target = pos;
  for (;;) {
    if (pos >= packet.size()) return false;
    uint8_t label = packet[pos];
    if ((label & 0xc0) == 0xc0) {
      if (pos + 1 >= packet.size()) return false;
      size_t target = static_cast<size_t>(label & 0x3f) << 8 | packet[pos + 1];
      if (target < kHeaderSize || target >= lowest_target) return false;
      if (!jumped) offset = pos + 2;
      jumped = true;
      lowest_target = target;
      pos = target;
      continue;
    }
    if (label & 0xc0) return false;  // 0x40 and 0x80 label types are obsolete (RFC 6891 §5)
    if (label == 0) {
      if (len + 1 > kMaxNameLength) return false;
      dst[len++] = 0;
      if (!jumped) offset = pos + 1;
      out.set_size(len);
      return true;
    }
    if (pos + 1 + label > packet.size()) return false;
    if (len + 1 + label + 1 > kMaxNameLength) return false;
    std::memcpy(dst + len, packet.data() + pos, 1 + label);
    len += 1 + label;
    pos += 1 + label;
  }
}

DecodeStatus decode_query(std::span<const uint8_t> packet, Request& out) {
  if (packet.size() < kHeaderSize) return DecodeStatus::Drop;
  out.id = get16(packet, 0);
  out.flags = get16(packet, 2);
  out.has_question = false;
  out.edns = Edns{};
  out.packet = packet;
  out.ixfr_serial.reset();
  out.tsig_offset = 0;
  if (out.flags & flag::QR) return DecodeStatus::Drop;  // never answer a response
  out.opcode = static_cast<Opcode>((out.flags >> 11) & 0xf);
  if (out.opcode != Opcode::Query) return DecodeStatus::NotImp;

  const uint16_t qdcount = get16(packet, 4);
  const uint16_t ancount = get16(packet, 6);
  const uint16_t nscount = get16(packet, 8);
  const uint16_t arcount = get16(packet, 10);
  if (qdcount != 1) return DecodeStatus::FormErr;

  size_t offset = kHeaderSize;
  if (!read_name(packet, offset, out.question.original)) return DecodeStatus::FormErr;
  if (offset + 4 > packet.size()) return DecodeStatus::FormErr;
  out.question.type = get16(packet, offset);
  out.question.rclass = get16(packet, offset + 2);
  offset += 4;
  out.question.name.assign_lowered(out.question.original);
  out.has_question = true;

  // Records in the answer and authority sections are allowed (RFC 1035 does not forbid
  // them; IXFR puts the client's SOA in the authority section, RFC 1995 §3) but must
  // parse.
  for (uint16_t i = 0; i < ancount; ++i)
    if (decode_rr(packet, offset, Section::Answer, Place::AnswerOrAuthority, out) != RrResult::Ok)
      return DecodeStatus::FormErr;
  for (uint16_t i = 0; i < nscount; ++i)
    if (decode_rr(packet, offset, Section::Authority, Place::AnswerOrAuthority, out) != RrResult::Ok)
      return DecodeStatus::FormErr;
  for (uint16_t i = 0; i < arcount; ++i) {
    const Place place = i + 1 == arcount ? Place::LastAdditional : Place::Additional;
    if (decode_rr(packet, offset, Section::Additional, place, out) != RrResult::Ok) return DecodeStatus::FormErr;
  }
  if (offset != packet.size()) return DecodeStatus::FormErr;  // trailing garbage
  // Checked once the OPT is read, so that this FORMERR carries it (RFC 6891 §7).
  if (out.question.type == rrtype::IXFR && !out.ixfr_serial) return DecodeStatus::FormErr;
  if (out.edns.present && out.edns.version > 0) return DecodeStatus::BadVers;
  return DecodeStatus::Ok;
}

}  // namespace stsd::dns
