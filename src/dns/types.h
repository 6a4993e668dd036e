#pragma once
// DNS constants used across stsd (RFC 1035, 6891, 8482, 3597).
#include <cstdint>
#include <string>
#include <string_view>
#include <optional>

namespace stsd::dns {

namespace rrtype {
inline constexpr uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, HINFO = 13, MX = 15, TXT = 16, AAAA = 28,
                          SRV = 33, NAPTR = 35, DNAME = 39, OPT = 41, DS = 43, RRSIG = 46, NSEC = 47, DNSKEY = 48,
                          CAA = 257, IXFR = 251, AXFR = 252, ANY = 255;
}
namespace rrclass {
inline constexpr uint16_t IN = 1, CH = 3, NONE = 254, ANY = 255;
}

enum class Opcode : uint8_t { Query = 0, IQuery = 1, Status = 2, Notify = 4, Update = 5 };

// Full 12-bit rcode; values above 15 travel in the OPT record (RFC 6891 §6.1.3).
enum class Rcode : uint16_t {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NXDomain = 3,
  NotImp = 4,
  Refused = 5,
  NotAuth = 9,  // RFC 8945 §3: a TSIG that did not verify
  BadVers = 16,
  BadCookie = 23  // RFC 7873 §8: a server cookie missing or wrong
};

enum class Section : uint8_t { Answer = 0, Authority = 1, Additional = 2 };

enum class Transport : uint8_t { Udp, Tcp };

// Mnemonics: "A", "TXT", "TYPE65280" (RFC 3597) both ways.
std::string type_to_string(uint16_t type);
std::optional<uint16_t> type_from_string(std::string_view text);
std::string_view rcode_to_string(Rcode rcode);
std::string class_to_string(uint16_t rclass);

}  // namespace stsd::dns
