#pragma once
// DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018): the construction,
// the checks of a received COOKIE option, and the secrets that key them. Pure functions
// of their inputs (the time is a parameter), so tests can use the RFC's worked examples.
#include <array>
#include <chrono>
#include <cstdint>
#include <span>

#include <boost/asio/ip/address.hpp>

#include "clock.h"
#include "siphash.h"

namespace stsd::cookies {

// RFC 9018 §4: Version (1) | Reserved (3) | Timestamp (4) | Hash (8).
inline constexpr size_t kServerCookieSize = 16;
inline constexpr uint8_t kCookieVersion = 1;
// RFC 9018 §4.3: a cookie from more than an hour ago, or more than five minutes ahead
// (clock skew between the servers of one anycast group), is not valid; one older than
// half an hour is valid but replaced by a fresh one.
inline constexpr int64_t kMaxCookieAge = 3600;
inline constexpr int64_t kMaxCookieLead = 300;
inline constexpr int64_t kRenewCookieAge = 1800;

// The client's address as RFC 9018 §4.4 hashes it: 4 octets for IPv4 (an IPv4 client on
// an IPv6 socket, ::ffff:a.b.c.d, included), 16 for IPv6.
struct ClientAddress {
  std::array<uint8_t, 16> octets{};
  uint8_t size = 0;

  static ClientAddress from(const boost::asio::ip::address& address);
  std::span<const uint8_t> bytes() const { return {octets.data(), size}; }
};

// The secrets accepted at one moment: `current` makes cookies; `previous`, when set, is
// still accepted, so that a rotation does not fail the cookies clients hold (RFC 9018 §5).
struct Secrets {
  SipKey current;
  SipKey previous;
  bool has_previous = false;
};

// A COOKIE option's data as RFC 7873 §5.2 sorts it.
enum class Verdict : uint8_t {
  ClientOnly,  // 8 octets: a client cookie alone (§5.2.3)
  Valid,       // a server cookie we made for this client and secret, in its time window (§5.2.5)
  Invalid,     // well formed, but not a server cookie of ours, or expired (§5.2.4)
  Malformed,   // neither 8 nor 16..40 octets (§5.2.2)
};

struct CookieCheck {
  Verdict verdict = Verdict::Malformed;
  // Valid, but the client should get a fresh one: it is over half an hour old, or was
  // made with the previous secret.
  bool renew = false;
};

// The server cookie time: seconds since the epoch, modulo 2^32 (RFC 9018 §4.3 compares
// it with serial number arithmetic, RFC 1982).
uint32_t cookie_time(Clock::time_point now);

CookieCheck check_cookie(std::span<const uint8_t> option, const ClientAddress& client, uint32_t now,
                         const Secrets& secrets);

// Writes a fresh server cookie (Version 1, Reserved 0, Timestamp `now`) for the client
// cookie and address into `out`.
void make_server_cookie(const SipKey& secret, std::span<const uint8_t, 8> client_cookie, const ClientAddress& client,
                        uint32_t now, std::span<uint8_t, kServerCookieSize> out);

}  // namespace stsd::cookies
