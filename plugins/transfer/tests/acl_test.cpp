// The transfer ACL: address prefixes (IPv4, IPv6, IPv4-mapped clients) and keys.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "acl.h"

using namespace stsd;
using namespace stsd::transfer;

namespace {

boost::asio::ip::address ip(const std::string& text) { return boost::asio::ip::make_address(text); }

TEST(Acl, PrefixAndKeyTogether) {
  dns::tsig::Key xfr_key{*dns::Name::from_text("xfr-key."), dns::tsig::Algorithm::HmacSha256, {1, 2, 3}};
  dns::tsig::Key other_key{*dns::Name::from_text("other."), dns::tsig::Algorithm::HmacSha256, {4, 5, 6}};
  const std::vector<AllowRule> rules = {
      {*net::parse_prefix("192.0.2.0/24"), xfr_key.name},
      {*net::parse_prefix("198.51.100.7"), std::nullopt},
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
