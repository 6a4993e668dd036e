// The `transfer:` section: defaults, keys (inline and secret files under the token-file
// rules), the allow list, and errors that name the file and line.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "plugin_test_support.h"
#include "temp_dir.h"
#include "transfer_config.h"

using namespace stsd;
using namespace stsd::transfer;

namespace {

// "stsd-test-secret-0123456789abcdef" in base64.
const std::string kSecret = "c3RzZC10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm";

TransferSettings parse(const std::string& yaml) { return parse_transfer_settings(test::yaml_node(yaml, "transfer")); }

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(accepted)";
}

TEST(TransferConfig, EmptySectionAllowsNothing) {
  for (const char* yaml : {"{}", ""}) {
    const TransferSettings settings = parse(yaml);
    EXPECT_TRUE(settings.keys.empty());
    EXPECT_TRUE(settings.allow.empty());
    EXPECT_FALSE(settings.tracker.catalog);
    EXPECT_EQ(settings.tracker.poll, kDefaultPoll);
    EXPECT_EQ(settings.tracker.journal_max_bytes, kDefaultJournalMaxMib << 20);
    EXPECT_TRUE(settings.tracker.notify.targets.empty());
  }
}

TEST(TransferConfig, FullSection) {
  const TransferSettings settings = parse(R"(
keys:
  Xfr-Key: {algorithm: HMAC-SHA256, secret: ")" + kSecret + R"("}
  second.: {algorithm: hmac-sha512, secret: ")" + kSecret + R"("}
allow:
  - {prefix: 192.0.2.0/24, key: xfr-key}
  - {prefix: "2001:db8::53"}
catalog: Catalog.STSD.invalid
poll: 5s
journal_max_mib: 8
)");
  ASSERT_EQ(settings.keys.size(), 2u);
  EXPECT_EQ(settings.keys[0].name.to_text(), "xfr-key.");
  EXPECT_EQ(settings.keys[0].algorithm, dns::tsig::Algorithm::HmacSha256);
  EXPECT_EQ(std::string(settings.keys[0].secret.begin(), settings.keys[0].secret.end()), "stsd-test-secret-0123456789abcdef");
  EXPECT_EQ(settings.keys[1].algorithm, dns::tsig::Algorithm::HmacSha512);
  ASSERT_EQ(settings.allow.size(), 2u);
  EXPECT_EQ(settings.allow[0].key->to_text(), "xfr-key.");
  EXPECT_FALSE(settings.allow[1].key);
  EXPECT_EQ(settings.allow[1].prefix.length, 128u);
  EXPECT_EQ(settings.tracker.catalog->to_text(), "catalog.stsd.invalid.");
  EXPECT_EQ(settings.tracker.poll, std::chrono::seconds(5));
  EXPECT_EQ(settings.tracker.journal_max_bytes, 8u << 20);
  EXPECT_EQ(settings.tracker.keys.size(), 2u);
}

TEST(TransferConfig, ErrorsNameTheLineAndTheReason) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  const Case cases[] = {
      {"colour: red", "colour"},
      {"keys: {k: {algorithm: hmac-md5, secret: " + kSecret + "}}", "unknown algorithm 'hmac-md5'"},
      {"keys: {k: {algorithm: hmac-sha256}}", "needs `secret: <base64>` or `secret_file: <path>`"},
      {"keys: {k: {algorithm: hmac-sha256, secret: '***'}}", "not base64"},
      {"keys: {k: {algorithm: hmac-sha256, secret: " + kSecret + ", secret_file: x}}", "not both"},
      {"keys: {k: {algorithm: hmac-sha256, secret_file: /nonexistent/stsd/key}}", "/nonexistent/stsd/key"},
      {"allow: {prefix: 10.0.0.0/8}", "expected a list"},
      {"allow:\n  - {prefix: 10.0.0.1/8}", "'10.0.0.1/8' is not an address prefix"},
      {"allow:\n  - {prefix: 10.0.0.0/8, key: nokey}", "no key 'nokey' under `keys:`"},
      {"allow:\n  - {key: k}", "prefix"},
      {"catalog: 'a..b'", "is not a zone name"},
      {"poll: 0s", "poll"},
      {"journal_max_mib: -1", "journal_max_mib"},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.yaml);
    const std::string error = error_of(test.yaml);
    EXPECT_NE(error.find(test.expected), std::string::npos) << error;
    EXPECT_NE(error.find("/etc/stsd/stsd.yaml:"), std::string::npos) << error;
  }
}

TEST(TransferConfig, SecretFilesFollowTheTokenFileRules) {
  const test::TempDir dir("transfer-config");
  const auto path = dir.fresh_path("xfr.key");
  std::ofstream(path) << "  " << kSecret << "  \nignored second line\n";
  ::chmod(path.c_str(), 0600);
  const std::string yaml = "keys: {k: {algorithm: hmac-sha256, secret_file: " + path.string() + "}}";
  const TransferSettings settings = parse(yaml);
  ASSERT_EQ(settings.keys.size(), 1u);
  EXPECT_EQ(settings.keys[0].secret.size(), 33u);
  // Writable by others: anyone could sign transfers with a key of their choosing.
  ::chmod(path.c_str(), 0666);
  EXPECT_NE(error_of(yaml).find("secret file"), std::string::npos) << error_of(yaml);
}

TEST(TransferConfig, BlocksMustAgreeOnWhatTheTrackerRuns) {
  const auto a = test::yaml_node("{catalog: cat., poll: 1s}", "transfer");
  EXPECT_EQ(tracker_settings_conflict(a, test::yaml_node("{catalog: cat., poll: 1s, allow: []}", "transfer")), "");
  EXPECT_EQ(tracker_settings_conflict(a, test::yaml_node("{catalog: other., poll: 1s}", "transfer")), "catalog");
  EXPECT_EQ(tracker_settings_conflict(a, test::yaml_node("{catalog: cat.}", "transfer")), "poll");
}

}  // namespace
