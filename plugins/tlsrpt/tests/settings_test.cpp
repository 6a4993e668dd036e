// The `tlsrpt:` section: defaults, and refusals that name the key.
#include <gtest/gtest.h>

#include "plugin_test_support.h"
#include "tlsrpt/settings.h"

namespace stsd::tlsrpt {
namespace {

ServiceSettings parse(const std::string& text) { return parse_settings(test::yaml_node(text, "tlsrpt")); }

TEST(TlsrptSettings, Defaults) {
  const ServiceSettings s = parse("{}");
  EXPECT_TRUE(s.listen.empty());
  EXPECT_EQ(s.path, "/tlsrpt");
  EXPECT_EQ(s.intake.storage.retention_days, 90);
  EXPECT_EQ(s.intake.report.max_age_seconds, 90 * 86400);
  EXPECT_EQ(s.intake.storage.max_bytes, 256u << 20);
  EXPECT_FALSE(s.intake.storage.keep_unknown_domains);
  EXPECT_EQ(s.intake.max_compressed_bytes, 1u << 20);
  EXPECT_EQ(s.intake.max_decompressed_bytes, 16u << 20);
  EXPECT_EQ(s.intake.report.max_depth, 12u);
}

TEST(TlsrptSettings, ReadsEveryKey) {
  const ServiceSettings s = parse(
      "{listen: ['127.0.0.1:8443'], path: /r, certificate: c.pem, key: k.pem, unknown_domains: keep, retention: 30d,"
      " max_store_mib: 8, max_body_kib: 64, max_report_kib: 512, max_json_depth: 8, requests_per_second: 3,"
      " burst: 4, max_connections: 16, threads: 2, sweep_interval: 10m}");
  ASSERT_EQ(s.listen.size(), 1u);
  EXPECT_EQ(s.listen[0].port(), 8443);
  EXPECT_EQ(s.certificate, "/etc/stsd/c.pem");  // relative to the config file's folder
  EXPECT_TRUE(s.intake.storage.keep_unknown_domains);
  EXPECT_EQ(s.intake.storage.retention_days, 30);
  EXPECT_EQ(s.intake.storage.max_bytes, 8u << 20);
  EXPECT_EQ(s.intake.max_compressed_bytes, 64u << 10);
  EXPECT_EQ(s.intake.max_decompressed_bytes, 512u << 10);
  EXPECT_EQ(s.intake.report.max_depth, 8u);
  EXPECT_EQ(s.requests_per_second, 3);
  EXPECT_EQ(s.threads, 2u);
  EXPECT_EQ(s.sweep_interval, std::chrono::minutes(10));
}

struct Bad {
  const char* yaml;
  const char* words;
};

TEST(TlsrptSettings, RefusalsNameTheKey) {
  const Bad cases[] = {
      {"{colour: red}", "colour"},
      {"{listen: ['127.0.0.1:8443']}", "certificate"},
      {"{certificate: c.pem}", "only used with `listen`"},
      {"{unknown_domains: drop}", "expected refuse or keep"},
      {"{path: relative}", "expected an absolute path"},
      {"{retention: 1h}", "retention"},
      {"{max_json_depth: 2}", "max_json_depth"},
  };
  for (const auto& c : cases) {
    try {
      parse(c.yaml);
      ADD_FAILURE() << c.yaml << " accepted";
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(c.words), std::string::npos) << c.yaml << ": " << error.what();
    }
  }
}

}  // namespace
}  // namespace stsd::tlsrpt
