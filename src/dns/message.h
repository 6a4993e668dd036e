#pragma once
// Decoding of incoming queries. Packet bytes are hostile: every read is bounds-checked
// and nothing here allocates.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

#include <boost/asio/ip/address.hpp>

#include "dns/name.h"
#include "dns/types.h"

namespace stsd::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr uint16_t kDefaultEdnsBuffer = 1232;  // DNS flag day 2020
inline constexpr uint16_t kClassicUdpSize = 512;      // RFC 1035 §4.2.1

namespace flag {
inline constexpr uint16_t QR = 0x8000, AA = 0x0400, TC = 0x0200, RD = 0x0100, RA = 0x0080, AD = 0x0020, CD = 0x0010;
}

// What the decoder concluded about a packet.
enum class DecodeStatus : uint8_t {
  Ok,       // a well-formed query
  FormErr,  // header readable: answer FORMERR (RFC 1035 §4.1.1)
  NotImp,   // an opcode we do not implement
  BadVers,  // EDNS version > 0 (RFC 6891 §6.1.3)
  Drop,     // no answer at all: too short for a header, or a response (QR=1)
};

struct Question {
  Name name;      // lowercased, for lookups
  Name original;  // as the client wrote it, echoed back (RFC 1035 §7.3, 0x20)
  uint16_t type = 0;
  uint16_t rclass = 0;
};

struct Edns {
  bool present = false;
  uint8_t version = 0;
  bool dnssec_ok = false;
  uint16_t udp_size = 0;  // as the client advertised it
  // Options the server acts on (edns.h); the rest are only checked to be well formed.
  bool nsid_requested = false;       // RFC 5001 §2.3
  bool keepalive_requested = false;  // RFC 7828 §3.2: the option, with or without a TIMEOUT
  // The COOKIE option's data as received (RFC 7873 §4: client cookie, then the server
  // cookie if any), unchecked in length; empty when absent. Points into the packet.
  std::span<const uint8_t> cookie;
  bool cookie_present = false;  // an empty COOKIE option is present, and malformed
};

struct Request {
  uint16_t id = 0;
  uint16_t flags = 0;  // the header's second 16 bits as received
  Opcode opcode = Opcode::Query;
  bool has_question = false;  // false when decoding stopped before the question
  Question question;
  Edns edns;

  // The packet as received, valid while the query is answered (TSIG covers its bytes,
  // RFC 8945 §4.3).
  std::span<const uint8_t> packet;
  // IXFR (RFC 1995 §3): the serial of the SOA the client put in the authority section.
  std::optional<uint32_t> ixfr_serial;
  // Offset in `packet` of the TSIG record (the last additional record), 0 when none.
  uint16_t tsig_offset = 0;

  Transport transport = Transport::Udp;
  boost::asio::ip::address client;
  uint16_t client_port = 0;
  std::chrono::steady_clock::time_point received;

  bool recursion_desired() const { return flags & flag::RD; }
  bool checking_disabled() const { return flags & flag::CD; }

  // The most octets a response may use: 65535 over TCP; over UDP the client's EDNS
  // buffer clamped to [512, our limit], or 512 without EDNS (RFC 6891 §6.2.5).
  size_t max_response_size(uint16_t our_udp_limit = kDefaultEdnsBuffer) const;
};

// Decodes `packet` into `out`. On FormErr/NotImp/BadVers, `out.id`, `out.flags` and
// `out.opcode` are valid (and the question when `out.has_question`).
DecodeStatus decode_query(std::span<const uint8_t> packet, Request& out);

// Reads a possibly compressed name at `offset`, advancing `offset` past it in the
// original position. Rejects loops, forward/out-of-range pointers, names > 255 octets.
bool read_name(std::span<const uint8_t> packet, size_t& offset, Name& out);

}  // namespace stsd::dns
