#pragma once
// EDNS option codes and Extended DNS Error codes stsd reads or writes (IANA "DNS EDNS0
// Option Codes" and "Extended DNS Error Codes" registries).
#include <cstdint>

namespace stsd::dns {

namespace edns_option {
inline constexpr uint16_t NSID = 3;           // RFC 5001
inline constexpr uint16_t COOKIE = 10;        // RFC 7873
inline constexpr uint16_t TCP_KEEPALIVE = 11; // RFC 7828
inline constexpr uint16_t PADDING = 12;       // RFC 7830
inline constexpr uint16_t EXTENDED_ERROR = 15;  // RFC 8914
}  // namespace edns_option

// RFC 8914 §4: INFO-CODEs.
namespace extended_error {
inline constexpr uint16_t Other = 0, NotReady = 14, Blocked = 15, Censored = 16, Filtered = 17, Prohibited = 18,
                          NotAuthoritative = 20, NotSupported = 21;
}  // namespace extended_error

// RFC 7873 §4: a client cookie is 8 octets; a server cookie 8 to 32.
inline constexpr size_t kClientCookieSize = 8;
inline constexpr size_t kMinServerCookieSize = 8;
inline constexpr size_t kMaxServerCookieSize = 32;

}  // namespace stsd::dns
