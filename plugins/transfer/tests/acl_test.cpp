// The transfer ACL: address prefixes (IPv4, IPv6, IPv4-mapped clients) and keys.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "acl.h"

using namespace stsd;
using namespace stsd::transfer;

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

TEST(Acl, PrefixAndKeyTogether) {
  dns::tsig::Key xfr_key{*dns::Name::from_text("xfr-key."), dns::tsig::Algorithm::HmacSha256, {1, 2, 3}};
  dns::tsig::Key other_key{*dns::Name::from_text("other."), dns::tsig::Algorithm::HmacSha256, {4, 5, 6}};
  const std::vector<AllowRule> rules = {
      {*parse_prefix("192.0.2.0/24"), xfr_key.name},
      {*parse_prefix("198.51.100.7"), std::nullopt},
  };
  struct Case {
    std::string client;
    const dns::tsig::Key* key;
    bool allowed;
  };
  const Case cases[] = {
      {"192.0.2.1", &xfr_key, true},   {"192.0.2.1", nullptr, false},     {"192.0.2.1", &other_key, false},
      {"198.51.100.7", nullptr, true}, {"198.51.100.7", &other_key, true}, {"198.51.100.8", nullptr, false},
      {"203.0.113.1", &xfr_key, false},
  };
  for (const auto& test : cases)
    EXPECT_EQ(transfer_allowed(rules, ip(test.client), test.key), test.allowed)
        << test.client << " " << (test.key ? test.key->name.to_text() : "unsigned");
  EXPECT_FALSE(transfer_allowed({}, ip("127.0.0.1"), nullptr));  // nothing allowed by default
}

}  // namespace
