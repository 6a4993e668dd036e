// The `cookies` plugin in a chain: its config, what each kind of COOKIE option gets
// (RFC 7873 §5.2, RFC 9018 §4.3), rotation overlaps, and its metrics.
#include <gtest/gtest.h>

#include "cookie_exchange.h"
#include "cookie_test_support.h"
#include "cookies_plugin.h"
#include "environment.h"
#include "metrics.h"

namespace stsd::cookies {
namespace {

using namespace std::chrono;
using test::ask;
using test::from_hex;
using test::to_hex;

constexpr const char* kSecretA = "e5e973e5a6b2a43f48e7dc849e37bfcf";
constexpr const char* kSecretB = "445536bcd2513298075a5d379663c962";
constexpr uint16_t kBadCookie = 23, kFormErr = 1, kNoError = 0;
const std::vector<uint8_t> kClientCookie = from_hex("2464c4abcf10c957");

// A plugin factory's surroundings with a clock the test moves.
struct Fixture {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(Clock::time_point(seconds(1'700'000'000)));
  Environment env{std::filesystem::temp_directory_path(), std::nullopt, clock, true};
  std::vector<std::string> listen{"127.0.0.1:5300"};
  PendingLoad load;

  std::unique_ptr<Plugin> make(const std::string& yaml) {
    const auto node = stsd::test::yaml_node(yaml, "servers[0].plugins.cookies");
    PluginSetup setup{env, node, listen, 0, load};
    return make_cookies_plugin(setup);
  }
  std::string config_error(const std::string& yaml) {
    try {
      make(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  }
  std::string scrape() { return metrics::metrics_registry(env)->scrape(); }
};

std::vector<uint8_t> with(const std::vector<uint8_t>& client_cookie, const std::vector<uint8_t>& server_cookie) {
  auto out = client_cookie;
  out.insert(out.end(), server_cookie.begin(), server_cookie.end());
  return out;
}

// The server cookie part of an answer's COOKIE option, after checking the client's part.
std::vector<uint8_t> server_part(const test::Exchange& answer) {
  EXPECT_TRUE(answer.cookie) << "the answer carries no COOKIE option";
  if (!answer.cookie) return {};
  EXPECT_EQ(answer.cookie->size(), 24u);
  EXPECT_EQ(to_hex(std::span(*answer.cookie).first(8)), to_hex(kClientCookie)) << "the client cookie is echoed";
  return std::vector<uint8_t>(answer.cookie->begin() + 8, answer.cookie->end());
}

TEST(CookiesConfig, Accepted) {
  Fixture f;
  for (const char* yaml : {"{}", "", "secret: e5e973e5a6b2a43f48e7dc849e37bfcf",
                           "secret: [E5E973E5A6B2A43F48E7DC849E37BFCF, 445536bcd2513298075a5d379663c962]",
                           "secret_lifetime: 1h", "secret_lifetime: 36d", "secret_lifetime: 1"})
    EXPECT_EQ(f.config_error(yaml), "(accepted)") << yaml;
}

TEST(CookiesConfig, ErrorsNameThePlaceAndTheReason) {
  Fixture f;
  const struct {
    const char* yaml;
    const char* says;
  } cases[] = {
      {"secrets: x", "unknown key 'secrets'"},
      {"secret: e5e973e5a6b2a43f48e7dc849e37bf", "32 hex digits"},
      {"secret: e5e973e5a6b2a43f48e7dc849e37bfcf00", "has 34 characters"},
      {"secret: e5e973e5a6b2a43f48e7dc849e37bfcg", "not a hex digit at position 32"},
      {"secret: []", "lists no secret"},
      {"secret: [e5e973e5a6b2a43f48e7dc849e37bfcf, 445536bcd2513298075a5d379663c962,\n"
       "         dd3bdf9344b678b185a6f5cb60fca715]",
       "at most two secrets"},
      {"secret: [e5e973e5a6b2a43f48e7dc849e37bfcf, e5e973e5a6b2a43f48e7dc849e37bfcf]", "first secret again"},
      {"secret: e5e973e5a6b2a43f48e7dc849e37bfcf\nsecret_lifetime: 1h", "applies only without `secret`"},
      {"secret_lifetime: 37d", "secret_lifetime"},
      {"secret_lifetime: 0s", "secret_lifetime"},
      {"secret: {a: b}", "expected a single value"},
  };
  for (const auto& c : cases) {
    const std::string error = f.config_error(c.yaml);
    EXPECT_NE(error.find(c.says), std::string::npos) << c.yaml << "\n  gave: " << error;
    EXPECT_NE(error.find("/etc/stsd/stsd.yaml:"), std::string::npos) << error;
    EXPECT_NE(error.find("servers[0].plugins.cookies"), std::string::npos) << error;
  }
  // The third secret's own line is named.
  EXPECT_NE(f.config_error(cases[5].yaml).find("stsd.yaml:2:"), std::string::npos) << f.config_error(cases[5].yaml);
}

TEST(CookiesPlugin, NoOptionChangesNothing) {
  Fixture f;
  auto plugin = f.make("secret: e5e973e5a6b2a43f48e7dc849e37bfcf");
  const auto answer = ask(*plugin, std::nullopt);
  EXPECT_TRUE(answer.passed_on);
  EXPECT_FALSE(answer.proven);
  EXPECT_EQ(answer.rcode, kNoError);
  EXPECT_TRUE(answer.has_opt);
  EXPECT_FALSE(answer.cookie);
}

// RFC 7873 §5.2.3: a client cookie alone gets a normal answer and a server cookie.
TEST(CookiesPlugin, ClientCookieGetsAFreshServerCookie) {
  Fixture f;
  auto plugin = f.make("secret: e5e973e5a6b2a43f48e7dc849e37bfcf");
  const auto answer = ask(*plugin, kClientCookie);
  EXPECT_TRUE(answer.passed_on);
  EXPECT_FALSE(answer.proven);
  EXPECT_EQ(answer.rcode, kNoError);
  EXPECT_EQ(answer.answers, 1);
  const auto server = server_part(answer);
  EXPECT_EQ(to_hex(std::span(server).first(8)), "010000006553f100") << "version 1, reserved 0, the clock's time";
}

// RFC 7873 §5.2.5: a valid server cookie proves the address, and is echoed while it is
// recent; over half an hour old it is renewed (RFC 9018 §4.3).
TEST(CookiesPlugin, ValidCookieIsEchoedThenRenewed) {
  Fixture f;
  auto plugin = f.make("secret: e5e973e5a6b2a43f48e7dc849e37bfcf");
  const auto learned = server_part(ask(*plugin, kClientCookie));

  f.clock->advance(minutes(20));
  const auto again = ask(*plugin, with(kClientCookie, learned));
  EXPECT_TRUE(again.passed_on);
  EXPECT_TRUE(again.proven);
  EXPECT_EQ(again.rcode, kNoError);
  EXPECT_EQ(server_part(again), learned) << "a 20-minute-old cookie is echoed";

  f.clock->advance(minutes(20));
  const auto renewed = ask(*plugin, with(kClientCookie, learned));
  EXPECT_TRUE(renewed.proven);
  EXPECT_EQ(renewed.rcode, kNoError);
  const auto fresh = server_part(renewed);
  EXPECT_NE(fresh, learned) << "a 40-minute-old cookie is renewed";
  EXPECT_TRUE(ask(*plugin, with(kClientCookie, fresh)).proven);

  f.clock->advance(minutes(41));  // `learned` is now 81 minutes old, `fresh` 41
  EXPECT_EQ(ask(*plugin, with(kClientCookie, learned)).rcode, kBadCookie);
  EXPECT_TRUE(ask(*plugin, with(kClientCookie, fresh)).proven);
}

// RFC 7873 §5.2.4 over UDP: BADCOOKIE with a fresh cookie, no records, the chain not run.
TEST(CookiesPlugin, ForgedCookieOverUdpIsBadCookie) {
  Fixture f;
  auto plugin = f.make("secret: e5e973e5a6b2a43f48e7dc849e37bfcf");
  auto forged = server_part(ask(*plugin, kClientCookie));
  forged[15] ^= 0x80;
  const auto answer = ask(*plugin, with(kClientCookie, forged));
  EXPECT_EQ(answer.rcode, kBadCookie);
  EXPECT_EQ(answer.answers, 0);
  EXPECT_FALSE(answer.passed_on);
  EXPECT_FALSE(answer.proven);
  const auto fresh = server_part(answer);
  EXPECT_NE(fresh, forged);
  // The client retries with what it was given (kdig's +badcookie), and gets through.
  const auto retry = ask(*plugin, with(kClientCookie, fresh));
  EXPECT_EQ(retry.rcode, kNoError);
  EXPECT_TRUE(retry.proven);

  // A cookie made for another address is as good as forged.
  EXPECT_EQ(ask(*plugin, with(kClientCookie, fresh), "192.0.2.99").rcode, kBadCookie);
  // So is a server cookie of another size or construction.
  EXPECT_EQ(ask(*plugin, from_hex("2464c4abcf10c957aabbccddeeff0011")).rcode, kBadCookie);
}

// Over TCP the address is proven by the handshake: a normal answer with a fresh cookie.
TEST(CookiesPlugin, ForgedCookieOverTcpIsAnsweredWithAFreshCookie) {
  Fixture f;
  auto plugin = f.make("secret: e5e973e5a6b2a43f48e7dc849e37bfcf");
  const std::vector<uint8_t> forged(16, 0x01);
  const auto answer = ask(*plugin, with(kClientCookie, forged), "192.0.2.1", dns::Transport::Tcp);
  EXPECT_EQ(answer.rcode, kNoError);
  EXPECT_EQ(answer.answers, 1);
  EXPECT_TRUE(answer.passed_on);
  EXPECT_FALSE(answer.proven);
  const auto fresh = server_part(answer);
  const auto valid = ask(*plugin, with(kClientCookie, fresh), "192.0.2.1", dns::Transport::Tcp);
  EXPECT_TRUE(valid.proven);
  EXPECT_EQ(server_part(valid), fresh);
}

// RFC 7873 §5.2.2: neither 8 nor 16..40 octets is FORMERR, without a cookie.
TEST(CookiesPlugin, MalformedOptionIsFormErr) {
  Fixture f;
  auto plugin = f.make("{}");
  for (size_t size : {0, 1, 7, 9, 15, 41}) {
    const auto answer = ask(*plugin, std::vector<uint8_t>(size, 0x42));
    EXPECT_EQ(answer.rcode, kFormErr) << size;
    EXPECT_FALSE(answer.passed_on) << size;
    EXPECT_FALSE(answer.cookie) << size;
    EXPECT_TRUE(answer.has_opt) << size;
  }
}

// RFC 9018 §5 with configured secrets: [new, old] accepts cookies of either and renews
// the old ones; [new] alone refuses them.
TEST(CookiesPlugin, ConfiguredRotationOverlaps) {
  Fixture f;
  auto old_only = f.make(std::string("secret: ") + kSecretA);
  const auto old_cookie = server_part(ask(*old_only, kClientCookie));

  auto both = f.make(std::string("secret: [") + kSecretB + ", " + kSecretA + "]");
  const auto overlap = ask(*both, with(kClientCookie, old_cookie));
  EXPECT_EQ(overlap.rcode, kNoError);
  EXPECT_TRUE(overlap.proven);
  const auto new_cookie = server_part(overlap);
  EXPECT_NE(new_cookie, old_cookie) << "renewed with the new secret";
  EXPECT_EQ(server_part(ask(*both, with(kClientCookie, new_cookie))), new_cookie);

  auto new_only = f.make(std::string("secret: ") + kSecretB);
  EXPECT_EQ(ask(*new_only, with(kClientCookie, old_cookie)).rcode, kBadCookie);
  EXPECT_TRUE(ask(*new_only, with(kClientCookie, new_cookie)).proven);
}

// Without `secret`: a random secret per `secret_lifetime`, the previous still accepted,
// and the same across reloads (a rebuilt plugin) of the process.
TEST(CookiesPlugin, RandomSecretRotatesWithOverlap) {
  Fixture f;
  f.clock->set(Clock::time_point(seconds(1'700'000'400)));  // a multiple of 600 s
  auto plugin = f.make("secret_lifetime: 10m");
  const auto first = server_part(ask(*plugin, kClientCookie));
  EXPECT_EQ(server_part(ask(*f.make("secret_lifetime: 10m"), with(kClientCookie, first))), first)
      << "a reload keeps the secret";

  f.clock->advance(minutes(10));  // the next period: the first secret is the previous one
  const auto overlap = ask(*plugin, with(kClientCookie, first));
  EXPECT_TRUE(overlap.proven);
  const auto second = server_part(overlap);
  EXPECT_NE(second, first) << "renewed with the current secret";

  f.clock->advance(minutes(10));  // two periods on: the first secret is gone
  EXPECT_EQ(ask(*plugin, with(kClientCookie, first)).rcode, kBadCookie);
  EXPECT_TRUE(ask(*plugin, with(kClientCookie, second)).proven);
}

TEST(CookiesPlugin, RandomSecretsDifferBetweenProcesses) {
  Fixture a, b;
  const auto from_a = server_part(ask(*a.make("{}"), kClientCookie));
  EXPECT_EQ(ask(*b.make("{}"), with(kClientCookie, from_a)).rcode, kBadCookie);
}

TEST(CookiesPlugin, MetricsCountEachKind) {
  Fixture f;
  auto plugin = f.make(std::string("secret: ") + kSecretA);
  ask(*plugin, std::nullopt);
  const auto server = server_part(ask(*plugin, kClientCookie));
  ask(*plugin, with(kClientCookie, server));
  ask(*plugin, with(kClientCookie, server));
  ask(*plugin, with(kClientCookie, std::vector<uint8_t>(16, 1)));
  ask(*plugin, with(kClientCookie, std::vector<uint8_t>(16, 1)), "192.0.2.1", dns::Transport::Tcp);
  ask(*plugin, std::vector<uint8_t>(3, 1));
  f.clock->advance(minutes(31));
  ask(*plugin, with(kClientCookie, server));
  const std::string text = f.scrape();
  for (const char* line : {
           "stsd_cookies_queries_total{server=\"127.0.0.1:5300\",cookie=\"none\"} 1\n",
           "stsd_cookies_queries_total{server=\"127.0.0.1:5300\",cookie=\"client_only\"} 1\n",
           "stsd_cookies_queries_total{server=\"127.0.0.1:5300\",cookie=\"valid\"} 3\n",
           "stsd_cookies_queries_total{server=\"127.0.0.1:5300\",cookie=\"invalid\"} 2\n",
           "stsd_cookies_queries_total{server=\"127.0.0.1:5300\",cookie=\"malformed\"} 1\n",
           "stsd_cookies_badcookie_total{server=\"127.0.0.1:5300\"} 1\n",
           "stsd_cookies_renewed_total{server=\"127.0.0.1:5300\"} 1\n",
       })
    EXPECT_NE(text.find(line), std::string::npos) << line << "in:\n" << text;
  // A reload keeps counting where it was.
  ask(*f.make(std::string("secret: ") + kSecretA), std::nullopt);
  EXPECT_NE(f.scrape().find("cookie=\"none\"} 2\n"), std::string::npos);
}

}  // namespace
}  // namespace stsd::cookies
