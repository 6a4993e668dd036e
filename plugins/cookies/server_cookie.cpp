#include "server_cookie.h"

#include <cstring>

#include "dns/edns.h"
#include "net/prefix.h"

namespace stsd::cookies {
namespace {

// RFC 9018 §4.4: Hash = SipHash-2-4(Client Cookie | Version | Reserved | Timestamp |
// Client-IP, Server Secret). `head` is the server cookie's first 8 octets as they are
// (Version, Reserved, Timestamp): a received cookie's Reserved octets are hashed as
// received (Appendix A.3), a cookie we make has them zero.
uint64_t cookie_hash(const SipKey& secret, std::span<const uint8_t, 8> client_cookie, std::span<const uint8_t, 8> head,
                     const ClientAddress& client) {
  uint8_t message[8 + 8 + 16];
  std::memcpy(message, client_cookie.data(), 8);
  std::memcpy(message + 8, head.data(), 8);
  std::memcpy(message + 16, client.octets.data(), client.size);
  return siphash24(secret, {message, 16u + client.size});
}

}  // namespace

ClientAddress ClientAddress::from(const boost::asio::ip::address& address) {
  ClientAddress out;
  const auto plain = net::unmapped(address);
  if (plain.is_v4()) {
    const auto bytes = plain.to_v4().to_bytes();
    std::memcpy(out.octets.data(), bytes.data(), bytes.size());
    out.size = static_cast<uint8_t>(bytes.size());
  } else {
    const auto bytes = plain.to_v6().to_bytes();
    std::memcpy(out.octets.data(), bytes.data(), bytes.size());
    out.size = static_cast<uint8_t>(bytes.size());
  }
  return out;
}

uint32_t cookie_time(Clock::time_point now) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  return static_cast<uint32_t>(static_cast<uint64_t>(seconds));
}

CookieCheck check_cookie(std::span<const uint8_t> option, const ClientAddress& client, uint32_t now,
                         const Secrets& secrets) {
  const size_t size = option.size();
  if (size == dns::kClientCookieSize) return {Verdict::ClientOnly, false};
  if (size < dns::kClientCookieSize + dns::kMinServerCookieSize ||
      size > dns::kClientCookieSize + dns::kMaxServerCookieSize)
    return {Verdict::Malformed, false};
  // Every cookie we make has the RFC 9018 size and version; another one comes from a
  // server with another construction (or a forger).
  if (size != dns::kClientCookieSize + kServerCookieSize) return {Verdict::Invalid, false};
  const auto client_cookie = option.first<8>();
  const auto server_cookie = option.subspan<8, kServerCookieSize>();
  if (server_cookie[0] != kCookieVersion) return {Verdict::Invalid, false};

  const uint32_t stamp = static_cast<uint32_t>(server_cookie[4]) << 24 | static_cast<uint32_t>(server_cookie[5]) << 16 |
                         static_cast<uint32_t>(server_cookie[6]) << 8 | server_cookie[7];
  // Serial number arithmetic: the signed distance, valid across the 2106 wrap.
  const int64_t age = static_cast<int32_t>(now - stamp);
  if (age > kMaxCookieAge || age < -kMaxCookieLead) return {Verdict::Invalid, false};

  const auto head = server_cookie.first<8>();
  const uint64_t received = load_le64(server_cookie.data() + 8);
  if (cookie_hash(secrets.current, client_cookie, head, client) == received)
    return {Verdict::Valid, age > kRenewCookieAge};
  if (secrets.has_previous && cookie_hash(secrets.previous, client_cookie, head, client) == received)
    return {Verdict::Valid, true};
  return {Verdict::Invalid, false};
}

void make_server_cookie(const SipKey& secret, std::span<const uint8_t, 8> client_cookie, const ClientAddress& client,
                        uint32_t now, std::span<uint8_t, kServerCookieSize> out) {
  out[0] = kCookieVersion;
  out[1] = out[2] = out[3] = 0;
  out[4] = static_cast<uint8_t>(now >> 24);
  out[5] = static_cast<uint8_t>(now >> 16);
  out[6] = static_cast<uint8_t>(now >> 8);
  out[7] = static_cast<uint8_t>(now);
  store_le64(cookie_hash(secret, client_cookie, out.first<8>(), client), out.subspan<8, 8>());
}

}  // namespace stsd::cookies
