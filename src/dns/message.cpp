#include "dns/message.h"

#include <algorithm>
#include <cstring>

namespace stsd::dns {
namespace {
inline uint16_t get16(std::span<const uint8_t> p, size_t at) { return static_cast<uint16_t>(p[at] << 8 | p[at + 1]); }
inline uint32_t get32(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint32_t>(p[at]) << 24 | static_cast<uint32_t>(p[at + 1]) << 16 |
         static_cast<uint32_t>(p[at + 2]) << 8 | p[at + 3];
}

// Skips one resource record; records whether it is an OPT and decodes it.
enum class RrResult { Ok, Malformed };
RrResult skip_rr(std::span<const uint8_t> packet, size_t& offset, bool in_additional, Request& out, int& opt_count) {
  Name owner;
  if (!read_name(packet, offset, owner)) return RrResult::Malformed;
  if (offset + 10 > packet.size()) return RrResult::Malformed;
  uint16_t type = get16(packet, offset);
  uint16_t rclass = get16(packet, offset + 2);
  uint32_t ttl = get32(packet, offset + 4);
  uint16_t rdlength = get16(packet, offset + 8);
  offset += 10;
  if (offset + rdlength > packet.size()) return RrResult::Malformed;
  if (type == rrtype::OPT) {
    // RFC 6891 §6.1.1: only in the additional section, owner is the root, at most one.
    if (!in_additional || !owner.is_root() || ++opt_count > 1) return RrResult::Malformed;
    size_t pos = offset;
    const size_t end = offset + rdlength;
    while (pos < end) {
      if (pos + 4 > end) return RrResult::Malformed;
      uint16_t option_length = get16(packet, pos + 2);
      pos += 4;
      if (pos + option_length > end) return RrResult::Malformed;
      pos += option_length;  // options we do not know are ignored (RFC 6891 §6.1.2)
    }
    out.edns.present = true;
    out.edns.udp_size = rclass;
    out.edns.version = static_cast<uint8_t>((ttl >> 16) & 0xff);
    out.edns.dnssec_ok = (ttl & 0x8000) != 0;
  }
  offset += rdlength;
  return RrResult::Ok;
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

  // A query carries no answer or authority records (RFC 1035 §4.1.1; UPDATE and
  // NOTIFY are other opcodes).
  if (ancount != 0 || nscount != 0) return DecodeStatus::FormErr;
  int opt_count = 0;
  for (uint16_t i = 0; i < arcount; ++i)
    if (skip_rr(packet, offset, true, out, opt_count) != RrResult::Ok) return DecodeStatus::FormErr;
  if (offset != packet.size()) return DecodeStatus::FormErr;  // trailing garbage
  if (out.edns.present && out.edns.version > 0) return DecodeStatus::BadVers;
  return DecodeStatus::Ok;
}

}  // namespace stsd::dns
