#pragma once
// Address prefixes as operators write them in access rules ("192.0.2.0/24",
// "2001:db8::/32", a bare address): the transfer ACL, the acl and rrl plugins.
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace stsd::net {

struct AddressPrefix {
  boost::asio::ip::address network;  // host bits cleared
  unsigned length = 0;

  // An IPv4 client on an IPv6 socket (::ffff:a.b.c.d) is matched as IPv4.
  bool contains(const boost::asio::ip::address& address) const;
};

// "192.0.2.0/24", "2001:db8::/32" or a bare address (all its bits); nullopt otherwise.
// Host bits after the length are refused: "10.1.2.3/8" is more likely a typo than intent.
std::optional<AddressPrefix> parse_prefix(std::string_view text);
// Why parse_prefix refused `text`, for a config error: "'10.1.2.3/8' is not an address
// prefix (...)".
std::string prefix_refusal(std::string_view text);

// ::ffff:a.b.c.d as the IPv4 address a.b.c.d; any other address unchanged.
boost::asio::ip::address unmapped(const boost::asio::ip::address& address);

}  // namespace stsd::net
