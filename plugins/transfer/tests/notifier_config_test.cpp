#include <gtest/gtest.h>

#include "notifier.h"
#include "plugin_test_support.h"

namespace stsd::transfer {
namespace {

std::vector<dns::tsig::Key> keys() {
  return {{*dns::Name::from_text("xfr-key."), dns::tsig::Algorithm::HmacSha256, {1, 2, 3}}};
}

NotifySettings parse(const std::string& yaml) { return parse_notify_settings(test::yaml_node(yaml, "notify"), keys()); }

TEST(NotifyConfig, TheDocumentedExample) {
  const auto settings = parse(R"(
targets:
  - {address: "127.0.0.1:5301", key: xfr-key}
  - {address: "[2001:db8::53]"}
retries: 3
retry_interval: 500ms
rate: 200
queue_limit: 5000
)");
  ASSERT_EQ(settings.targets.size(), 2u);
  EXPECT_EQ(settings.targets[0].endpoint.port(), 5301);
  EXPECT_EQ(settings.targets[0].key, "xfr-key");
  EXPECT_EQ(settings.targets[1].endpoint.address().to_string(), "2001:db8::53");
  EXPECT_EQ(settings.targets[1].endpoint.port(), 53) << "the DNS port by default";
  EXPECT_TRUE(settings.targets[1].key.empty());
  EXPECT_EQ(settings.retries, 3u);
  EXPECT_EQ(settings.retry_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(settings.rate, 200u);
  EXPECT_EQ(settings.queue_limit, 5000u);
}

TEST(NotifyConfig, Defaults) {
  const auto settings = parse("{}");
  EXPECT_TRUE(settings.targets.empty());
  EXPECT_EQ(settings.retries, 5u);
  EXPECT_EQ(settings.retry_interval, std::chrono::seconds(2));
  EXPECT_EQ(settings.rate, 1000u);
  EXPECT_EQ(settings.queue_limit, 1000000u);
  EXPECT_EQ(parse("retry_interval: 1m").retry_interval, std::chrono::minutes(1));
  EXPECT_EQ(parse("targets: [{address: 192.0.2.1:53, key: XFR-KEY.}]").targets.size(), 1u);
}

TEST(NotifyConfig, MistakesNameTheLineAndTheReason) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"targets:\n  - {address: 127.0.0.1:5301, key: other}",
       "stsd.yaml:2:36: notify.targets[0].key: no key named 'other'"},
      {"targets:\n  - {address: 'example.com:53'}", "notify.targets[0].address: 'example.com:53'"},
      {"targets:\n  - {address: 127.0.0.1, port: 53}", "port"},
      {"targets:\n  - {address: 127.0.0.1:53}\n  - {address: 127.0.0.1}", "target 127.0.0.1:53 is listed twice"},
      {"targets: 127.0.0.1", "expected a list"},
      {"retries: 11", "notify.retries"},
      {"rate: 0", "notify.rate"},
      {"queue_limit: 0", "notify.queue_limit"},
      {"retry_interval: 5ms", "out of range: from 10ms to 1h"},
      {"retry_interval: 2h", "out of range"},
      {"retry_interval: fastms", "is not a duration"},
      {"retry_interval: soon", "notify.retry_interval"},
      {"target: []", "target"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    try {
      parse(c.yaml);
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(c.error), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace stsd::transfer
