// The one address parser (src/net/address.h): every form operators write, and the
// reason given for each refusal.
#include "net/address.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

using namespace stsd;
using namespace stsd::net;

namespace {

struct AddressCase {
  const char* text;
  std::optional<uint16_t> default_port;
  const char* address;  // expected address text; nullptr: refused
  uint16_t port;
  const char* reason;  // for a refusal: must appear in the error
};

std::ostream& operator<<(std::ostream& out, const AddressCase& c) { return out << "'" << c.text << "'"; }

constexpr std::optional<uint16_t> kRequired = std::nullopt;
constexpr std::optional<uint16_t> kHttps = 443;

class AddressPortTable : public ::testing::TestWithParam<AddressCase> {};

TEST_P(AddressPortTable, ParsesOrNamesTheReason) {
  const auto& c = GetParam();
  const auto parsed = parse_address_port(c.text, c.default_port);
  if (!c.address) {
    ASSERT_FALSE(parsed) << "accepted as " << parsed->address.to_string() << " port " << parsed->port;
    EXPECT_EQ(parsed.error().rfind(std::string("'") + c.text + "' is not ", 0), 0u) << parsed.error();
    EXPECT_NE(parsed.error().find(c.reason), std::string::npos) << parsed.error();
    return;
  }
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->address.to_string(), c.address);
  EXPECT_EQ(parsed->port, c.port);
}

INSTANTIATE_TEST_SUITE_P(
    Table, AddressPortTable,
    ::testing::Values(
        // Accepted, the port written or defaulted.
        AddressCase{"192.0.2.7:53", kRequired, "192.0.2.7", 53, ""},
        AddressCase{"[2001:db8::7]:53", kRequired, "2001:db8::7", 53, ""},
        AddressCase{"[192.0.2.7]:443", kRequired, "192.0.2.7", 443, ""},
        AddressCase{"[192.0.2.7]:443", kHttps, "192.0.2.7", 443, ""},
        AddressCase{"[::1]:8443", kHttps, "::1", 8443, ""}, AddressCase{"192.0.2.7", kHttps, "192.0.2.7", 443, ""},
        AddressCase{"192.0.2.7:8443", kHttps, "192.0.2.7", 8443, ""},
        AddressCase{"2001:db8::7", kHttps, "2001:db8::7", 443, ""},
        AddressCase{"[2001:db8::7]", kHttps, "2001:db8::7", 443, ""},
        AddressCase{"[192.0.2.7]", kHttps, "192.0.2.7", 443, ""},
        AddressCase{"127.0.0.1:65535", kRequired, "127.0.0.1", 65535, ""},
        // Refused, with the reason.
        AddressCase{"", kHttps, nullptr, 0, "it is empty"},
        AddressCase{"192.0.2.7", kRequired, nullptr, 0, "the port is missing"},
        AddressCase{"192.0.2.7:", kHttps, nullptr, 0, "the port is missing"},
        AddressCase{"[::1]", kRequired, nullptr, 0, "the port is missing"},
        AddressCase{"::1:53", kRequired, nullptr, 0, "needs brackets"},
        AddressCase{"192.0.2.7:0", kHttps, nullptr, 0, "the port '0' is not a number from 1 to 65535"},
        AddressCase{"192.0.2.7:70000", kRequired, nullptr, 0, "the port '70000' is not a number from 1 to 65535"},
        AddressCase{"192.0.2.7:x", kHttps, nullptr, 0, "the port 'x' is not a number"},
        AddressCase{"192.0.2.7:-1", kHttps, nullptr, 0, "the port '-1' is not a number"},
        AddressCase{"[2001:db8::7", kHttps, nullptr, 0, "'[' has no matching ']'"},
        AddressCase{"[2001:db8::7]8443", kHttps, nullptr, 0, "expected ':PORT' after ']'"},
        AddressCase{"[]:53", kRequired, nullptr, 0, "the brackets hold no address"},
        AddressCase{":53", kRequired, nullptr, 0, "the address is missing"},
        AddressCase{"edge1.cdn.example", kHttps, nullptr, 0, "'edge1.cdn.example' is not an IP address"},
        AddressCase{"edge1.cdn.example:443", kHttps, nullptr, 0, "'edge1.cdn.example' is not an IP address"},
        AddressCase{"300.1.1.1", kHttps, nullptr, 0, "'300.1.1.1' is not an IP address"},
        AddressCase{"[edge]:443", kHttps, nullptr, 0, "'edge' is not an IP address"}));

TEST(AddressPort, NamesTheFormExpected) {
  EXPECT_EQ(parse_address_port("192.0.2.7", std::nullopt).error(),
            "'192.0.2.7' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT): the port is missing");
  EXPECT_EQ(parse_address_port("edge", 443).error(),
            "'edge' is not ADDRESS or ADDRESS:PORT (IPv6 as [ADDRESS]:PORT): 'edge' is not an IP address");
}

TEST(Listen, ColonPortIsEveryAddress) {
  const auto every = parse_listen(":53");
  ASSERT_TRUE(every) << every.error();
  ASSERT_EQ(every->size(), 2u);
  EXPECT_EQ((*every)[0].address.to_string(), "0.0.0.0");
  EXPECT_EQ((*every)[1].address.to_string(), "::");
  EXPECT_EQ((*every)[0].port, 53);
  EXPECT_EQ((*every)[1].port, 53);

  const auto one = parse_listen("[::1]:5300");
  ASSERT_TRUE(one) << one.error();
  EXPECT_EQ(*one, (std::vector<AddressPort>{{boost::asio::ip::make_address("::1"), 5300}}));
  const auto bracketed_v4 = parse_listen("[127.0.0.1]:5300");
  ASSERT_TRUE(bracketed_v4) << bracketed_v4.error();
  EXPECT_EQ(bracketed_v4->front().address.to_string(), "127.0.0.1");
}

TEST(Listen, RefusalsNameTheListenForm) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:0", "::1:53", "nohost:53", ":", ":0", "[]:53", ""}) {
    const auto parsed = parse_listen(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().rfind(
                  std::string("'") + bad + "' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT, ':PORT' for all): ", 0),
              0u)
        << parsed.error();
  }
}

struct HostCase {
  const char* text;
  const char* host;  // nullptr: refused
  uint16_t port;
  const char* reason;
};

std::ostream& operator<<(std::ostream& out, const HostCase& c) { return out << "'" << c.text << "'"; }

class HostPortTable : public ::testing::TestWithParam<HostCase> {};

TEST_P(HostPortTable, ParsesOrNamesTheReason) {
  const auto& c = GetParam();
  const auto parsed = parse_host_port(c.text);
  if (!c.host) {
    ASSERT_FALSE(parsed) << "accepted as " << parsed->host;
    EXPECT_EQ(parsed.error().rfind(std::string("'") + c.text + "' is not HOST:PORT", 0), 0u) << parsed.error();
    EXPECT_NE(parsed.error().find(c.reason), std::string::npos) << parsed.error();
    return;
  }
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->host, c.host);
  EXPECT_EQ(parsed->port, c.port);
}

INSTANTIATE_TEST_SUITE_P(
    Table, HostPortTable,
    ::testing::Values(HostCase{"stsd.example.net:8053", "stsd.example.net", 8053, ""},
                      HostCase{"localhost:8053", "localhost", 8053, ""},
                      HostCase{"127.0.0.1:8053", "127.0.0.1", 8053, ""}, HostCase{"[::1]:8053", "::1", 8053, ""},
                      HostCase{"[127.0.0.1]:8053", "127.0.0.1", 8053, ""},
                      HostCase{"localhost", nullptr, 0, "the port is missing"},
                      HostCase{":8053", nullptr, 0, "the host is missing"},
                      HostCase{"::1:8053", nullptr, 0, "needs brackets"},
                      HostCase{"[localhost]:8053", nullptr, 0, "brackets hold an IP address; 'localhost' is not one"},
                      HostCase{"a b:8053", nullptr, 0, "'a b' is not a host name or an IP address"},
                      HostCase{"a..b:8053", nullptr, 0, "'a..b' is not a host name"},
                      HostCase{"host:99999", nullptr, 0, "the port '99999' is not a number from 1 to 65535"}));

TEST(EndpointText, ReadsBackThroughTheParser) {
  for (const char* text : {"192.0.2.7:53", "[2001:db8::7]:8443", "[::]:53", "0.0.0.0:1"}) {
    const auto parsed = parse_address_port(text);
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(endpoint_text(parsed->address, parsed->port), text);
  }
}

}  // namespace
