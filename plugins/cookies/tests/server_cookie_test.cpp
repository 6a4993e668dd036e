// Server cookies as RFC 9018 builds them, and the checks of RFC 7873 §5.2 and RFC 9018
// §4.3: the worked examples of RFC 9018 Appendix A byte for byte, the time window, the
// rotation overlap, and every way a cookie is malformed or not ours.
#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "cookie_test_support.h"
#include "server_cookie.h"

namespace stsd::cookies {
namespace {

using test::from_hex;
using test::key_from_hex;
using test::to_hex;

ClientAddress address(const char* text) { return ClientAddress::from(boost::asio::ip::make_address(text)); }

std::string fresh_cookie(const SipKey& secret, std::string_view client_cookie_hex, const ClientAddress& client,
                         uint32_t now) {
  const auto client_cookie = from_hex(client_cookie_hex);
  std::array<uint8_t, kServerCookieSize> out{};
  make_server_cookie(secret, std::span<const uint8_t, 8>(client_cookie.data(), 8), client, now, out);
  return to_hex(out);
}

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::ClientOnly: return "client_only";
    case Verdict::Valid: return "valid";
    case Verdict::Invalid: return "invalid";
    case Verdict::Malformed: return "malformed";
  }
  return "?";
}

// RFC 9018 Appendix A: each query's COOKIE option classified, and the server cookie the
// answer carries made at the example's time with the secret then current.
struct AppendixExample {
  const char* section;
  const char* current_secret;
  const char* previous_secret;  // "" when the server has only one
  const char* client;
  const char* query_option;
  uint32_t checked_at;  // when the query's cookie is checked
  Verdict verdict;
  bool renew;
  uint32_t answered_at;  // the answer's Timestamp
  const char* answer_server_cookie;
};

constexpr const char* kSecretA = "e5e973e5a6b2a43f48e7dc849e37bfcf";

const AppendixExample kAppendixA[] = {
    {"A.1 learning a new server cookie", kSecretA, "", "198.51.100.100", "2464c4abcf10c957", 1559731985,
     Verdict::ClientOnly, false, 1559731985, "010000005cf79f111f8130c3eee29480"},
    // 40 minutes later: valid, and over half an hour old, so renewed.
    {"A.2 the same client renewing", kSecretA, "", "198.51.100.100",
     "2464c4abcf10c957010000005cf79f111f8130c3eee29480", 1559734385, Verdict::Valid, true, 1559734385,
     "010000005cf7a871d4a564a1442aca77"},
    // The cookie has Reserved octets set and is hashed with them. Checked 10 minutes
    // after it was made; the example answers it 1h52m after, outside the one-hour window
    // of RFC 9018 §4.3 (next case).
    {"A.3 another client, Reserved set", kSecretA, "", "203.0.113.203",
     "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", 1559727985 + 600, Verdict::Valid, false, 1559734700,
     "010000005cf7a9acf73a7810aca2381e"},
    {"A.3 at the example's time: expired", kSecretA, "", "203.0.113.203",
     "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", 1559734700, Verdict::Invalid, false, 1559734700,
     "010000005cf7a9acf73a7810aca2381e"},
    // Made with the secret before the rotation: accepted, and renewed with the new one.
    {"A.4 IPv6, rolled-over secret", "445536bcd2513298075a5d379663c962", "dd3bdf9344b678b185a6f5cb60fca715",
     "2001:db8:220:1:59de:d0f4:8769:82b8", "22681ab97d52c298010000005cf7c57926556bd0934c72f8", 1559741961,
     Verdict::Valid, true, 1559741961, "010000005cf7c609a6bb79d16625507a"},
    {"A.4 without the old secret", "445536bcd2513298075a5d379663c962", "", "2001:db8:220:1:59de:d0f4:8769:82b8",
     "22681ab97d52c298010000005cf7c57926556bd0934c72f8", 1559741961, Verdict::Invalid, false, 1559741961,
     "010000005cf7c609a6bb79d16625507a"},
};

TEST(ServerCookie, Rfc9018AppendixA) {
  for (const auto& example : kAppendixA) {
    SCOPED_TRACE(example.section);
    Secrets secrets{key_from_hex(example.current_secret), {}, false};
    if (*example.previous_secret) {
      secrets.previous = key_from_hex(example.previous_secret);
      secrets.has_previous = true;
    }
    const ClientAddress client = address(example.client);
    const auto option = from_hex(example.query_option);
    const CookieCheck check = check_cookie(option, client, example.checked_at, secrets);
    EXPECT_STREQ(verdict_name(check.verdict), verdict_name(example.verdict));
    EXPECT_EQ(check.renew, example.renew);
    EXPECT_EQ(fresh_cookie(secrets.current, std::string_view(example.query_option).substr(0, 16), client,
                           example.answered_at),
              example.answer_server_cookie);
  }
}

class CookieWindow : public ::testing::Test {
 protected:
  const SipKey secret = key_from_hex("000102030405060708090a0b0c0d0e0f");
  const Secrets secrets{secret, {}, false};
  const ClientAddress client = address("192.0.2.1");
  static constexpr const char* kClientCookie = "0123456789abcdef";

  std::vector<uint8_t> option_made_at(uint32_t made, const ClientAddress& for_client) const {
    return from_hex(std::string(kClientCookie) + fresh_cookie(secret, kClientCookie, for_client, made));
  }
  CookieCheck check_at(uint32_t made, uint32_t now) const { return check_cookie(option_made_at(made, client), client, now, secrets); }
};

// RFC 9018 §4.3: valid from 5 minutes ahead to an hour old; renewed after half an hour.
TEST_F(CookieWindow, AgeDecidesValidityAndRenewal) {
  struct Case {
    int64_t age;
    Verdict verdict;
    bool renew;
  };
  const Case cases[] = {
      {0, Verdict::Valid, false},        {1800, Verdict::Valid, false},   {1801, Verdict::Valid, true},
      {3600, Verdict::Valid, true},      {3601, Verdict::Invalid, false}, {86400, Verdict::Invalid, false},
      {-300, Verdict::Valid, false},     {-301, Verdict::Invalid, false},
  };
  const uint32_t made = 1'700'000'000;
  for (const auto& c : cases) {
    SCOPED_TRACE("age " + std::to_string(c.age));
    const auto check = check_at(made, static_cast<uint32_t>(made + c.age));
    EXPECT_STREQ(verdict_name(check.verdict), verdict_name(c.verdict));
    EXPECT_EQ(check.renew, c.renew);
  }
}

// Serial number arithmetic (RFC 1982): a cookie made just before the 32-bit wrap (year
// 2106) is still a minute old just after it.
TEST_F(CookieWindow, TimestampsWrapAround) {
  EXPECT_EQ(check_at(0xffffffe0u, 0x0000001cu).verdict, Verdict::Valid);
  EXPECT_EQ(check_at(0x00000010u, 0xfffffff0u).verdict, Verdict::Valid);  // 32 s ahead
}

TEST_F(CookieWindow, AnotherAddressOrClientCookieOrSecretIsInvalid) {
  const uint32_t now = 1'700'000'000;
  const auto good = option_made_at(now, client);
  EXPECT_EQ(check_cookie(good, client, now, secrets).verdict, Verdict::Valid);
  EXPECT_EQ(check_cookie(good, address("192.0.2.2"), now, secrets).verdict, Verdict::Invalid);
  EXPECT_EQ(check_cookie(good, address("2001:db8::1"), now, secrets).verdict, Verdict::Invalid);
  for (size_t octet = 0; octet < good.size(); ++octet) {
    auto forged = good;
    forged[octet] ^= 0x01;
    EXPECT_EQ(check_cookie(forged, client, now, secrets).verdict, Verdict::Invalid) << "octet " << octet;
  }
  const Secrets other{key_from_hex("ffeeddccbbaa99887766554433221100"), {}, false};
  EXPECT_EQ(check_cookie(good, client, now, other).verdict, Verdict::Invalid);
}

// RFC 9018 §5: during a rotation the previous secret is still accepted, and its cookies
// are replaced by ones made with the new secret.
TEST_F(CookieWindow, PreviousSecretIsAcceptedAndRenewed) {
  const uint32_t now = 1'700'000'000;
  const auto made_with_old = option_made_at(now, client);
  const Secrets rotated{key_from_hex("ffeeddccbbaa99887766554433221100"), secret, true};
  const auto check = check_cookie(made_with_old, client, now, rotated);
  EXPECT_EQ(check.verdict, Verdict::Valid);
  EXPECT_TRUE(check.renew);
}

// An IPv4 client reaching an IPv6 socket is hashed as IPv4 (RFC 9018 §4.4: 4 octets).
TEST_F(CookieWindow, MappedIpv4IsHashedAsIpv4) {
  const ClientAddress mapped = address("::ffff:192.0.2.1");
  EXPECT_EQ(mapped.size, 4u);
  EXPECT_EQ(to_hex(mapped.bytes()), to_hex(client.bytes()));
  EXPECT_EQ(address("2001:db8::1").size, 16u);
}

// RFC 7873 §4 and §5.2.2: a client cookie alone is 8 octets, with a server cookie 16 to
// 40; anything else is malformed. Well-formed cookies that are not RFC 9018's 16 octets
// of version 1 cannot be ours.
TEST(CookieShape, LengthsAndVersions) {
  const Secrets secrets{key_from_hex("000102030405060708090a0b0c0d0e0f"), {}, false};
  const ClientAddress client = address("192.0.2.1");
  struct Case {
    size_t size;
    Verdict verdict;
  };
  const Case cases[] = {{0, Verdict::Malformed},  {1, Verdict::Malformed},  {7, Verdict::Malformed},
                        {8, Verdict::ClientOnly}, {9, Verdict::Malformed},  {15, Verdict::Malformed},
                        {16, Verdict::Invalid},   {24, Verdict::Invalid},   {40, Verdict::Invalid},
                        {41, Verdict::Malformed}, {100, Verdict::Malformed}};
  for (const auto& c : cases) {
    std::vector<uint8_t> option(c.size, 0x01);  // never one of ours: 24 octets make version 1 from 1970
    EXPECT_STREQ(verdict_name(check_cookie(option, client, 1'700'000'000, secrets).verdict), verdict_name(c.verdict))
        << c.size << " octets";
  }
  // A correct hash does not save a cookie of another version.
  std::array<uint8_t, kServerCookieSize> cookie{};
  const uint8_t client_cookie[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  make_server_cookie(secrets.current, client_cookie, client, 1'700'000'000, cookie);
  std::vector<uint8_t> option(client_cookie, client_cookie + 8);
  option.insert(option.end(), cookie.begin(), cookie.end());
  EXPECT_EQ(check_cookie(option, client, 1'700'000'000, secrets).verdict, Verdict::Valid);
  option[8] = 2;
  EXPECT_EQ(check_cookie(option, client, 1'700'000'000, secrets).verdict, Verdict::Invalid);
}

TEST(CookieTime, SecondsModulo32Bits) {
  using namespace std::chrono;
  EXPECT_EQ(cookie_time(Clock::time_point(seconds(1559731985) + milliseconds(999))), 1559731985u);
  EXPECT_EQ(cookie_time(Clock::time_point(seconds(0x100000005LL))), 5u);
}

}  // namespace
}  // namespace stsd::cookies
