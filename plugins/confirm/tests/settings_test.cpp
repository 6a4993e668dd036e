// The `confirm:` section: defaults, every key, and errors that name file:line:key.
#include "settings.h"

#include <fstream>

#include <gtest/gtest.h>

namespace stsd::confirm {
namespace {

using namespace std::chrono_literals;

ConfigNode section_of(const std::string& yaml) {
  auto root = ConfigNode(YAML::Load(yaml), std::make_shared<const std::filesystem::path>("/etc/stsd/stsd.yaml"), "");
  return root.require("confirm");
}

std::string error_of(const std::string& yaml) {
  try {
    auto section = section_of(yaml);
    parse_settings(&section);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfirmSettings, DefaultsSuitACdn) {
  auto settings = parse_settings(nullptr);
  EXPECT_EQ(settings.interval, 60s);
  EXPECT_EQ(settings.probes, 3u);
  EXPECT_EQ(settings.soak, 10min);
  EXPECT_EQ(settings.timeout, 4s);
  EXPECT_EQ(settings.drift_interval, 1h);
  EXPECT_EQ(settings.verify_window, 10min);
  EXPECT_FALSE(settings.ca_file);
  EXPECT_FALSE(settings.resolver);
  EXPECT_TRUE(settings.vantages.empty());
  auto empty = section_of("confirm:\n");
  EXPECT_EQ(parse_settings(&empty).probes, 3u);
}

TEST(ConfirmSettings, ReadsEveryKey) {
  auto section = section_of(
      "confirm:\n"
      "  interval: 2s\n"
      "  probes: 2\n"
      "  soak: 5s\n"
      "  timeout: 3s\n"
      "  ca_file: /etc/ssl/certs/ca-certificates.crt\n"
      "  resolver: 127.0.0.1:5353\n"
      "  https_port: 8443\n"
      "  vantages: [127.0.0.11, \"127.0.0.12:9443\", \"[::1]:8443\"]\n"
      "  drift_interval: 1m\n"
      "  max_concurrent_probes: 4\n"
      "  max_backoff: 30s\n"
      "  verify_window: 2m\n");
  auto settings = parse_settings(&section);
  EXPECT_EQ(settings.interval, 2s);
  EXPECT_EQ(settings.probes, 2u);
  EXPECT_EQ(settings.soak, 5s);
  EXPECT_EQ(settings.timeout, 3s);
  EXPECT_EQ(settings.ca_file, std::filesystem::path("/etc/ssl/certs/ca-certificates.crt"));
  ASSERT_TRUE(settings.resolver);
  EXPECT_EQ(settings.resolver->to_string(), "127.0.0.1:5353");
  ASSERT_EQ(settings.vantages.size(), 3u);
  EXPECT_EQ(settings.vantages[0].to_string(), "127.0.0.11:8443") << "a bare address takes https_port";
  EXPECT_EQ(settings.vantages[1].to_string(), "127.0.0.12:9443");
  EXPECT_EQ(settings.vantages[2].to_string(), "[::1]:8443");
  EXPECT_EQ(settings.drift_interval, 1min);
  EXPECT_EQ(settings.max_concurrent_probes, 4u);
  EXPECT_EQ(settings.max_backoff, 30s);
  EXPECT_EQ(settings.verify_window, 2min);
}

struct BadCase {
  std::string name;
  std::string yaml;
  std::string error;  // must appear in the message
};

class BadSection : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadSection, NamesFileLineKeyAndReason) {
  auto message = error_of(GetParam().yaml);
  EXPECT_NE(message.find(GetParam().error), std::string::npos) << message;
  EXPECT_EQ(message.rfind("/etc/stsd/stsd.yaml:", 0), 0u) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadSection,
    ::testing::Values(
        BadCase{"unknown_key", "confirm:\n  intervall: 5s\n", ":2:3: confirm.intervall: unknown key 'intervall'"},
        BadCase{"bad_duration", "confirm:\n  soak: ten minutes\n", "confirm.soak: expected a duration"},
        BadCase{"zero_interval", "confirm:\n  interval: 0s\n", "confirm.interval: must be between 1s and"},
        BadCase{"timeout_over_a_minute", "confirm:\n  timeout: 2m\n", "confirm.timeout: must be between 1s and 60s"},
        BadCase{"verify_window_under_a_minute", "confirm:\n  verify_window: 30s\n",
                ":2:18: confirm.verify_window: must be between 60s and 86400s"},
        BadCase{"verify_window_over_a_day", "confirm:\n  verify_window: 2d\n",
                ":2:18: confirm.verify_window: must be between 60s and 86400s"},
        BadCase{"zero_probes", "confirm:\n  probes: 0\n", "confirm.probes: value 0 is out of range"},
        BadCase{"missing_ca_file", "confirm:\n  ca_file: /nonexistent/ca.pem\n",
                "confirm.ca_file: cannot load CA bundle /nonexistent/ca.pem"},
        BadCase{"resolver_name", "confirm:\n  resolver: dns.example.net\n",
                "confirm.resolver: 'dns.example.net' is not ADDRESS or ADDRESS:PORT (IPv6 as [ADDRESS]:PORT): "
                "'dns.example.net' is not an IP address"},
        BadCase{"vantage_bad_port", "confirm:\n  vantages: [\"127.0.0.1:99999\"]\n",
                ":2:14: confirm.vantages[0]: '127.0.0.1:99999' is not ADDRESS or ADDRESS:PORT (IPv6 as "
                "[ADDRESS]:PORT): the port '99999' is not a number from 1 to 65535"},
        BadCase{"vantage_twice", "confirm:\n  vantages: [127.0.0.1, \"127.0.0.1:443\"]\n",
                "confirm.vantages[1]: vantage 127.0.0.1 is listed twice"},
        BadCase{"vantages_map", "confirm:\n  vantages: {a: 1}\n", "confirm.vantages: expected a list"}),
    [](const auto& info) { return info.param.name; });

struct VantageCase {
  std::string text;
  std::string expected;  // to_string(), or "" when it must be refused
};

class VantageText : public ::testing::TestWithParam<VantageCase> {};

TEST_P(VantageText, ParsesAddrAndAddrPort) {
  std::string error;
  auto vantage = parse_vantage(GetParam().text, 443, error);
  if (GetParam().expected.empty()) {
    EXPECT_FALSE(vantage) << GetParam().text;
    EXPECT_FALSE(error.empty());
  } else {
    ASSERT_TRUE(vantage) << error;
    EXPECT_EQ(vantage->to_string(), GetParam().expected);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Texts, VantageText,
    ::testing::Values(VantageCase{"192.0.2.7", "192.0.2.7"}, VantageCase{"192.0.2.7:443", "192.0.2.7"},
                      VantageCase{"192.0.2.7:8443", "192.0.2.7:8443"}, VantageCase{"2001:db8::7", "2001:db8::7"},
                      VantageCase{"[2001:db8::7]", "2001:db8::7"},
                      VantageCase{"[2001:db8::7]:8443", "[2001:db8::7]:8443"}, VantageCase{"", ""},
                      VantageCase{"edge1.cdn.example", ""}, VantageCase{"192.0.2.7:", ""},
                      VantageCase{"192.0.2.7:0", ""}, VantageCase{"192.0.2.7:x", ""},
                      VantageCase{"[192.0.2.7]:443", "192.0.2.7"}, VantageCase{"[192.0.2.7]:8443", "192.0.2.7:8443"},
                      VantageCase{"[2001:db8::7", ""}, VantageCase{"[2001:db8::7]8443", ""},
                      VantageCase{"300.1.1.1", ""}));

}  // namespace
}  // namespace stsd::confirm
