// The confirmer's table of watched domains: rounds come due in time order (O(due), not
// O(domains)), a watch is never in two rounds at once, a change during a round makes the
// next one start at once, removed domains leave no round behind, the store's domain list
// is reconciled page by page, and /metrics lists held domains with a bound.
#include "watch_table.h"

#include <string>

#include <gtest/gtest.h>

namespace stsd::confirm {
namespace {

std::vector<std::string> names(const std::vector<WatchTable::Entry*>& entries) {
  std::vector<std::string> out;
  for (const auto* entry : entries) out.push_back(entry->first);
  return out;
}

using Names = std::vector<std::string>;

TEST(WatchTable, RoundsComeDueInTimeOrderAndOnlyOnce) {
  WatchTable table;
  table.add("c.test", 3000);
  table.add("a.test", 1000);
  table.add("b.test", 2000);
  EXPECT_EQ(names(table.take_due(500, 10)), Names{});
  EXPECT_EQ(names(table.take_due(2000, 10)), (Names{"a.test", "b.test"}));
  EXPECT_EQ(table.in_flight(), 2u);
  EXPECT_EQ(names(table.take_due(5000, 10)), Names{"c.test"}) << "a round in flight is not started again";
  table.finish(*table.find("a.test"), 6000, 5000);
  EXPECT_EQ(table.in_flight(), 2u);
  EXPECT_EQ(names(table.take_due(5999, 10)), Names{});
  EXPECT_EQ(names(table.take_due(6000, 10)), Names{"a.test"});
}

TEST(WatchTable, AtMostTheLimitStartsAtOnce) {
  WatchTable table;
  for (int i = 0; i < 5; ++i) table.add("d" + std::to_string(i) + ".test", 100);
  EXPECT_EQ(table.take_due(100, 2).size(), 2u);
  EXPECT_EQ(table.take_due(100, 10).size(), 3u);
}

TEST(WatchTable, AnEarlierScheduleWinsAndTheOldEntryIsSkipped) {
  WatchTable table;
  auto [entry, added] = table.add("a.test", 10'000);
  ASSERT_TRUE(added);
  table.schedule(*entry, 1000);  // a change: probe now
  EXPECT_EQ(names(table.take_due(1000, 10)), Names{"a.test"});
  table.finish(*entry, 50'000, 1000);
  EXPECT_EQ(names(table.take_due(20'000, 10)), Names{}) << "the entry for 10'000 is stale";
  EXPECT_EQ(names(table.take_due(50'000, 10)), Names{"a.test"});
}

TEST(WatchTable, AChangeDuringARoundMakesTheNextStartAtOnce) {
  WatchTable table;
  auto [entry, added] = table.add("a.test", 1000);
  ASSERT_EQ(table.take_due(1000, 10).size(), 1u);
  table.schedule(*entry, 1500);  // the store changed while the round ran
  EXPECT_EQ(names(table.take_due(1500, 10)), Names{}) << "never two rounds of one domain";
  table.finish(*entry, 90'000, 2000);
  EXPECT_EQ(names(table.take_due(2000, 10)), Names{"a.test"});
}

TEST(WatchTable, ARemovedDomainLeavesNoRoundAndCanComeBack) {
  WatchTable table;
  table.add("a.test", 1000);
  table.add("b.test", 1000);
  table.remove("a.test");
  EXPECT_EQ(table.find("a.test"), nullptr);
  EXPECT_EQ(names(table.take_due(1000, 10)), Names{"b.test"});
  auto [entry, added] = table.add("a.test", 2000);
  EXPECT_TRUE(added);
  EXPECT_EQ(names(table.take_due(2000, 10)), Names{"a.test"});
  // Removed while its round runs: the round's end finds nothing to finish.
  table.remove("a.test");
  EXPECT_EQ(table.in_flight(), 1u) << "b.test is still in flight";
  EXPECT_EQ(table.find("a.test"), nullptr);
}

TEST(WatchTable, ReconcilesOnePageOfTheStoreList) {
  WatchTable table;
  for (const char* name : {"a.test", "b.test", "c.test", "e.test", "x.test"}) table.add(name, 0);
  // A page after "a.test" up to "e.test": c.test is gone, d.test is new; x.test is
  // outside the page and stays.
  EXPECT_EQ(table.reconcile("a.test", {"b.test", "d.test", "e.test"}, false), Names{"d.test"});
  EXPECT_EQ(table.find("c.test"), nullptr);
  EXPECT_NE(table.find("a.test"), nullptr);
  EXPECT_NE(table.find("x.test"), nullptr);
  // The last page reaches the end of the list: x.test is gone too.
  EXPECT_EQ(table.reconcile("e.test", {}, true), Names{});
  EXPECT_EQ(table.find("x.test"), nullptr);
  // An empty store: everything goes.
  EXPECT_EQ(table.reconcile("", {}, true), Names{});
  EXPECT_EQ(table.find("a.test"), nullptr);
}

TEST(WatchTable, ReadersSeeOnlyWhatAWriteUnderTheLockPublished) {
  WatchTable table;
  auto [entry, added] = table.add("a.test", 1000);
  EXPECT_FALSE(table.read("a.test", [](const Watch* w) { return w && w->last_round_ms != 0; }));
  table.update(*entry, [](Watch& watch) {
    watch.last_round_ms = 5000;
    watch.phase = Phase::Held;
  });
  EXPECT_TRUE(table.read("a.test", [](const Watch* w) { return w && w->phase == Phase::Held; }));
  EXPECT_FALSE(table.read("nope.test", [](const Watch* w) { return w != nullptr; }));
}

TEST(WatchTable, MetricsCountPhasesAndListHeldDomainsWithABound) {
  WatchTable table;
  for (int i = 0; i < 1500; ++i) {
    const std::string domain = "d" + std::to_string(i) + ".test";
    auto [entry, added] = table.add(domain, 0);
    table.update(*entry, [](Watch& watch) {
      watch.last_round_ms = 1;
      watch.phase = Phase::Held;
      watch.failing = true;
    });
    table.set_rotation_held(domain, HeldRotation{100, "127.0.0.12:8443", "older-version", "edge serves version 1"});
    table.set_drift_held(domain, true);
  }
  table.remove("d0.test");
  metrics::MetricsWriter writer;
  table.write_metrics(writer);
  const std::string text = writer.render();
  EXPECT_NE(text.find("stsd_confirm_domains{state=\"held\"} 1499\n"), std::string::npos) << text.substr(0, 2000);
  EXPECT_NE(text.find("stsd_confirm_failing_domains 1499\n"), std::string::npos);
  EXPECT_NE(text.find("stsd_confirm_rotation_held_domains 1499\n"), std::string::npos);
  EXPECT_NE(text.find("stsd_confirm_rotation_held{domain=\"d1.test\",vantage=\"127.0.0.12:8443\","
                      "reason=\"older-version\"} 1\n"),
            std::string::npos);
  size_t listed = 0, drift_listed = 0;
  for (size_t at = 0; (at = text.find("\nstsd_confirm_rotation_held{", at)) != std::string::npos; ++at) ++listed;
  for (size_t at = 0; (at = text.find("\nstsd_confirm_drift_held{", at)) != std::string::npos; ++at) ++drift_listed;
  EXPECT_EQ(listed, WatchTable::kMaxListed);
  EXPECT_EQ(drift_listed, WatchTable::kMaxListed);
  EXPECT_EQ(text.find("d0.test"), std::string::npos) << "a removed domain is not held";
}

TEST(VantageMemo, KeepsTheAddressPortAndKindInCompactForm) {
  std::string error;
  for (const char* text : {"192.0.2.7", "127.0.0.12:8443", "[2001:db8::7]:8443"}) {
    auto vantage = parse_vantage(text, 443, error);
    ASSERT_TRUE(vantage) << error;
    auto memo = VantageMemo::of(*vantage, true);
    EXPECT_EQ(memo.vantage(), *vantage);
    EXPECT_EQ(memo.label(), "edge " + vantage->to_string());
    EXPECT_EQ(VantageMemo::of(*vantage, false).label(), "address " + vantage->to_string());
  }
}

}  // namespace
}  // namespace stsd::confirm
