#include "lag_tracker.h"

#include <gtest/gtest.h>

namespace stsd::transfer {
namespace {

dns::Name name(const std::string& text) { return *dns::Name::from_text(text); }
const auto kSecondary = boost::asio::ip::make_address("192.0.2.1");
const auto kOther = boost::asio::ip::make_address("2001:db8::2");

TEST(SerialArithmetic, Rfc1982) {
  struct Case {
    uint32_t a, b;
    bool newer;
  };
  for (const Case c : {Case{2, 1, true}, Case{1, 2, false}, Case{1, 1, false}, Case{0, 0xffffffffu, true},
                       Case{0x7fffffffu, 0, true}, Case{0x80000000u, 0, false}, Case{0, 0x80000000u, false}}) {
    SCOPED_TRACE(std::to_string(c.a) + " vs " + std::to_string(c.b));
    EXPECT_EQ(serial_after(c.a, c.b), c.newer);
  }
}

TEST(LagTracker, LagIsTheTimeFromAChangeToASecondaryHoldingIt) {
  LagTracker tracker;
  const auto zone = name("_mta-sts.example.com.");
  tracker.announced(zone, 100, 1000);
  tracker.announced(zone, 101, 2000);
  tracker.announced(zone, 101, 2500);  // announced again: the first time counts
  tracker.announced(zone, 102, 3000);
  struct Step {
    const char* what;
    boost::asio::ip::address secondary;
    uint32_t serial;
    int64_t at;
    std::optional<int64_t> lag;
  };
  const auto third = boost::asio::ip::make_address("192.0.2.3");
  const Step steps[] = {
      {"a transfer of 100 to it ended", kSecondary, 100, 1003, 3},
      // It asks for an IXFR from 100: 101 and 102, announced at 2000 and 3000, have not
      // reached it yet.
      {"asks for an IXFR from 100", kSecondary, 100, 3005, 1005},
      // It held 100 before: 101 and 102 are new to it; 101 changed at 2000.
      {"holds 102 after the transfer", kSecondary, 102, 3010, 1010},
      {"reports 102 again: nothing new, nothing missing", kSecondary, 102, 3020, std::nullopt},
      {"another secondary, first seen holding 102", kOther, 102, 3001, 1},
      // A first report of an old serial counts from that serial's change: stsd cannot
      // know when it arrived, and too long a lag is the safe mistake.
      {"a third one, first seen holding 101", third, 101, 3004, 1004},
      {"a serial older than any remembered misses them all", third, 7, 3006, 2006},
  };
  for (const auto& step : steps) {
    SCOPED_TRACE(step.what);
    EXPECT_EQ(tracker.secondary_has(step.secondary, zone, step.serial, step.at), step.lag);
  }
  EXPECT_EQ(tracker.last_lag_by_secondary().at("192.0.2.1"), 1010);
  EXPECT_EQ(tracker.last_lag_by_secondary().at("2001:db8::2"), 1);
}

TEST(LagTracker, AChangeAnnouncedAfterTheReportDoesNotCount) {
  LagTracker tracker;
  const auto zone = name("example.com.");
  tracker.announced(zone, 5, 100);
  tracker.announced(zone, 6, 200);
  EXPECT_EQ(tracker.secondary_has(kSecondary, zone, 5, 150), 50);  // 6 did not exist at 150
  EXPECT_EQ(tracker.secondary_has(kSecondary, zone, 5, 90), std::nullopt);
  EXPECT_EQ(tracker.secondary_has(kSecondary, name("other.example."), 5, 150), std::nullopt);
}

TEST(LagTracker, EveryTableIsBounded) {
  LagLimits limits;
  limits.zones = 4;
  limits.changes_per_zone = 2;
  limits.holdings = 3;
  limits.secondaries = 2;
  LagTracker tracker(limits);
  for (int i = 0; i < 10; ++i) tracker.announced(name("z" + std::to_string(i) + ".example."), 1, 100);
  EXPECT_EQ(tracker.zones_remembered(), 4u);
  EXPECT_EQ(tracker.secondary_has(kSecondary, name("z0.example."), 1, 110), std::nullopt) << "forgotten first";
  EXPECT_EQ(tracker.secondary_has(kSecondary, name("z9.example."), 1, 110), 10);
  const auto zone = name("z9.example.");
  tracker.announced(zone, 2, 200);
  tracker.announced(zone, 3, 300);  // 1 is forgotten
  EXPECT_EQ(tracker.secondary_has(kOther, zone, 1, 310), 110) << "only 2 and 3 are remembered as missing";
  for (int i = 1; i <= 5; ++i)
    tracker.secondary_has(boost::asio::ip::make_address_v4(0x0a000000u + static_cast<uint32_t>(i)), zone, 3, 301);
  EXPECT_LE(tracker.holdings_remembered(), 3u);
  EXPECT_EQ(tracker.last_lag_by_secondary().size(), 3u) << "two of their own, the rest as \"other\"";
  EXPECT_TRUE(tracker.last_lag_by_secondary().contains("other"));
}

}  // namespace
}  // namespace stsd::transfer
