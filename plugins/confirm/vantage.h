#pragma once
// A vantage point: one address (and port) from which the policy file is fetched, with
// SNI and Host still set to mta-sts.<domain>. CDN edges are configured this way, so a
// confirmation means "every edge serves it", not "the edge my resolver picked serves it".
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace stsd::confirm {

inline constexpr uint16_t kHttpsPort = 443;

struct Vantage {
  boost::asio::ip::address address;
  uint16_t port = kHttpsPort;

  // "192.0.2.7" (port 443), "192.0.2.7:8443", "2001:db8::7", "[2001:db8::7]:8443".
  std::string to_string() const;
  friend bool operator==(const Vantage&, const Vantage&) = default;
};

// Accepts what src/net/address.h accepts with a default port: ADDR, ADDR:PORT, [ADDR] and
// [ADDR]:PORT (brackets around IPv4 too, as the store accepts); a bare IPv6 address takes
// the default port. Host names are refused: a vantage must name one machine (an edge), and
// resolving names is what the default (empty) vantage list already does.
// On failure returns nullopt and sets `error` to the reason in plain words.
std::optional<Vantage> parse_vantage(std::string_view text, uint16_t default_port, std::string& error);

}  // namespace stsd::confirm
