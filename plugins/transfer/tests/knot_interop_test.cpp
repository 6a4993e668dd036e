// NOTIFY to a real Knot DNS secondary (knotd): it must accept what stsd sends, and its
// refusals must count as failures. Skipped when knotd is not installed.
#include <gtest/gtest.h>

#include "knot_secondary.h"
#include "metrics.h"
#include "net/address.h"
#include "notifier.h"
#include "test_secondary.h"

namespace stsd::transfer {
namespace {

using namespace std::chrono_literals;

struct KnotInterop : ::testing::Test {
  Environment env{std::filesystem::temp_directory_path(), std::nullopt, std::make_shared<SystemClock>(), false};

  void SetUp() override {
    if (!test::KnotSecondary::available()) GTEST_SKIP() << "knotd is not installed";
  }
  double metric(const std::string& sample) { return test::metric_value(env, sample); }
  static std::string target(const test::KnotSecondary& knot) {
    return "target=\"" + net::endpoint_text(knot.endpoint().address(), knot.endpoint().port()) + "\"";
  }
  static bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
    return test::eventually(condition, timeout);
  }
  static NotifySettings settings_for(const test::KnotSecondary& knot, const std::string& key) {
    NotifySettings settings;
    settings.targets.push_back({knot.endpoint(), key});
    settings.retries = 1;
    settings.retry_interval = 500ms;
    return settings;
  }
  // The address NOTIFYs come from: stsd sends from an ephemeral port on 127.0.0.1, and
  // Knot's ACL matches the address (its `remote` port is where it would transfer from).
  static boost::asio::ip::udp::endpoint primary() { return {boost::asio::ip::make_address("127.0.0.1"), 1}; }
};

TEST_F(KnotInterop, KnotAcceptsAnUnsignedNotifyFromAnAllowedAddress) {
  test::KnotSecondary knot("example.com.", primary(), std::nullopt);
  ASSERT_TRUE(knot.wait_ready()) << knot.log();
  Notifier notifier(settings_for(knot, ""), {}, env);
  notifier.start();
  notifier.zone_changed(*dns::Name::from_text("example.com."), 2026113001, 0);
  ASSERT_TRUE(eventually([&] { return metric("stsd_notify_answered_total{" + target(knot) + "}") == 1; }))
      << knot.log();
  EXPECT_TRUE(eventually([&] { return knot.log().find("notify, incoming") != std::string::npos; })) << knot.log();
}

TEST_F(KnotInterop, KnotRefusesANotifyForAZoneItDoesNotServe) {
  test::KnotSecondary knot("example.com.", primary(), std::nullopt);
  ASSERT_TRUE(knot.wait_ready()) << knot.log();
  Notifier notifier(settings_for(knot, ""), {}, env);
  notifier.start();
  notifier.zone_changed(*dns::Name::from_text("other.example."), 1, 0);
  ASSERT_TRUE(eventually([&] {
    return metric("stsd_notify_failed_total{" + target(knot) + ",reason=\"rcode\"}") == 1;
  })) << knot.log();
  EXPECT_EQ(metric("stsd_notify_retried_total{" + target(knot) + "}"), 0);
}

dns::tsig::Key key_of(const test::KnotKey& key) {
  return {*dns::Name::from_text(key.name + "."), dns::tsig::Algorithm::HmacSha256,
          *dns::tsig::decode_secret(key.secret)};
}

const test::KnotKey kKey{"xfr-key", "c3RzZC1leGFtcGxlLXNlY3JldC0wMTIzNDU2Nzg5YWI="};
const test::KnotKey kOtherSecret{"xfr-key", "b3RoZXItc2VjcmV0LW9mLXRoZS1zYW1lLW5hbWUtLTA="};

// Knot verifies the NOTIFY's TSIG (its ACL demands the key) and signs its answer, which
// stsd verifies in turn.
TEST_F(KnotInterop, KnotAcceptsANotifySignedWithTheKeyItsAclNames) {
  test::KnotSecondary knot("example.com.", primary(), kKey);
  ASSERT_TRUE(knot.wait_ready()) << knot.log();
  Notifier notifier(settings_for(knot, "xfr-key"), {key_of(kKey)}, env);
  notifier.start();
  notifier.zone_changed(*dns::Name::from_text("example.com."), 2026113001, 0);
  ASSERT_TRUE(eventually([&] { return metric("stsd_notify_answered_total{" + target(knot) + "}") == 1; }))
      << knot.log();
  EXPECT_TRUE(eventually([&] { return knot.log().find("notify, incoming") != std::string::npos; })) << knot.log();
  EXPECT_EQ(metric("stsd_notify_failed_total{" + target(knot) + ",reason=\"tsig\"}"), 0);
}

TEST_F(KnotInterop, AWrongSecretOrNoSignatureIsRefusedAndCountsAsATsigFailure) {
  struct Case {
    const char* name;
    std::string target_key;
    std::vector<dns::tsig::Key> keys;
    const char* reason;
  };
  const Case cases[] = {
      // Knot answers NOTAUTH (BADSIG), unsigned: stsd cannot verify it either way.
      {"another secret under the same name", "xfr-key", {key_of(kOtherSecret)}, "tsig"},
      // Knot's ACL demands a key: an unsigned NOTIFY is refused (NOTAUTH).
      {"unsigned", "", {}, "rcode"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    test::KnotSecondary knot("example.com.", primary(), kKey);
    ASSERT_TRUE(knot.wait_ready()) << knot.log();
    Notifier notifier(settings_for(knot, c.target_key), c.keys, env);
    notifier.start();
    notifier.zone_changed(*dns::Name::from_text("example.com."), 2026113001, 0);
    ASSERT_TRUE(eventually([&] {
      return metric("stsd_notify_failed_total{" + target(knot) + ",reason=\"" + c.reason + "\"}") == 1;
    })) << knot.log();
    EXPECT_EQ(metric("stsd_notify_answered_total{" + target(knot) + "}"), 0);
    EXPECT_EQ(metric("stsd_notify_retried_total{" + target(knot) + "}"), 0);
  }
}

}  // namespace
}  // namespace stsd::transfer
