// The `status:` section: loopback by default, a token required as soon as one address
// is not loopback, and every refusal naming the key and the reason.
#include <gtest/gtest.h>

#include "plugin_test_support.h"
#include "status/status_page_config.h"

namespace stsd::admin::status {
namespace {

StatusPageConfig parse(const std::string& yaml, bool has_storage = true) {
  return parse_status_page_config(test::yaml_node(yaml, "status"), has_storage, /*load_token=*/false);
}

std::string refusal(const std::string& yaml, bool has_storage = true) {
  try {
    parse(yaml, has_storage);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "accepted";
}

TEST(StatusPageConfig, DefaultsToLoopbackWithoutToken) {
  for (const std::string yaml : {"", "{}"}) {
    const auto config = parse(yaml);
    ASSERT_EQ(config.endpoints.size(), 1u);
    EXPECT_EQ(config.endpoints[0].address().to_string(), "127.0.0.1");
    EXPECT_EQ(config.endpoints[0].port(), 8054);
    EXPECT_TRUE(config.token_file.empty());
  }
}

TEST(StatusPageConfig, TakesLoopbackListsAndATokenAnywhere) {
  auto config = parse("listen: [\"127.0.0.1:9000\", \"[::1]:9000\"]");
  EXPECT_EQ(config.endpoints.size(), 2u);
  config = parse("listen: \"0.0.0.0:9000\"\ntoken_file: status.token");
  EXPECT_EQ(config.token_file.filename(), "status.token");
  EXPECT_TRUE(config.token_file.is_absolute());  // relative to the config file's folder
  config = parse("listen: \":9000\"\ntoken_file: /etc/stsd/status.token");
  EXPECT_EQ(config.endpoints.size(), 2u);  // every IPv4 and IPv6 address
}

TEST(StatusPageConfig, RefusalsNameTheKeyAndTheReason) {
  struct Case {
    std::string yaml;
    bool has_storage;
    std::string words;
  };
  for (const auto& c : std::vector<Case>{
           {"listen: \"0.0.0.0:9000\"", true, "status.listen: '0.0.0.0:9000' is not a loopback address"},
           {"listen: [\"127.0.0.1:9000\", \"192.0.2.7:9000\"]", true,
            "status.listen[1]: '192.0.2.7:9000' is not a loopback address"},
           {"listen: \":9000\"", true, "needs `token_file:`"},
           {"listen: \"127.0.0.1\"", true, "status.listen: '127.0.0.1' is not ADDRESS:PORT"},
           {"listen: [\"127.0.0.1:9000\", \"127.0.0.1:9000\"]", true, "is listed twice"},
           {"listen: []", true, "expected an address"},
           {"lisen: \"127.0.0.1:9000\"", true, "lisen"},
           {"", false, "the status page shows the policy store; set `storage:` too"},
       }) {
    const std::string message = refusal(c.yaml, c.has_storage);
    EXPECT_NE(message.find(c.words), std::string::npos) << c.yaml << " -> " << message;
  }
}

}  // namespace
}  // namespace stsd::admin::status
