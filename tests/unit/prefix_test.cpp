// Address prefixes in access rules: parsing, and matching IPv4, IPv6 and IPv4-mapped
// clients.
#include <gtest/gtest.h>

#include <string>

#include "net/prefix.h"

using namespace stsd::net;

namespace {

boost::asio::ip::address ip(const std::string& text) { return boost::asio::ip::make_address(text); }

TEST(Prefix, ParsesAndRefuses) {
  struct Case {
    std::string text;
    bool valid;
  };
  const Case cases[] = {
      {"192.0.2.0/24", true}, {"192.0.2.7", true},       {"0.0.0.0/0", true},     {"2001:db8::/32", true},
      {"::1", true},          {"::/0", true},            {"192.0.2.1/24", false}, {"192.0.2.0/33", false},
      {"2001:db8::/129", false}, {"192.0.2.0/", false},  {"192.0.2.0/x", false},  {"example.com", false},
      {"", false},            {"10.0.0.0/8 ", false},
  };
  for (const auto& test : cases) EXPECT_EQ(parse_prefix(test.text).has_value(), test.valid) << test.text;
}

TEST(Prefix, Contains) {
  struct Case {
    std::string prefix, address;
    bool inside;
  };
  const Case cases[] = {
      {"192.0.2.0/24", "192.0.2.255", true},  {"192.0.2.0/24", "192.0.3.0", false},
      {"192.0.2.128/25", "192.0.2.129", true}, {"192.0.2.128/25", "192.0.2.127", false},
      {"192.0.2.7", "192.0.2.7", true},        {"192.0.2.7", "192.0.2.8", false},
      {"0.0.0.0/0", "203.0.113.9", true},      {"0.0.0.0/0", "2001:db8::1", false},
      {"2001:db8::/32", "2001:db8:ffff::1", true}, {"2001:db8::/32", "2001:db9::1", false},
      {"127.0.0.0/8", "::ffff:127.0.0.1", true},  // an IPv4 client on an IPv6 socket
      {"::ffff:0:0/96", "::ffff:127.0.0.1", false},  // rules name IPv4 clients as IPv4
  };
  for (const auto& test : cases)
    EXPECT_EQ(parse_prefix(test.prefix)->contains(ip(test.address)), test.inside) << test.prefix << " " << test.address;
}

}  // namespace
