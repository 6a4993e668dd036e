// Retiring a domain (RFC 8461 §8.3): the cache horizon from the store's history, the
// retirement's life (staged, confirmed, scheduled, cancelled), the sweeper that removes the
// records only once every cached policy has expired, and remove_domain's refusal.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "clock.h"
#include "store/policy_store.h"
#include "store/retirement_sweeper.h"
#include "temp_store.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::store {
namespace {

using std::chrono::seconds;

constexpr int64_t kStart = 1735689600;  // 2025-01-01T00:00:00Z
constexpr int64_t kDay = 86400;

Policy policy(Mode mode, uint32_t max_age, const char* mx = "mx1.example.com") { return Policy{mode, {mx}, max_age}; }

PolicyVersion version(uint32_t number, Mode mode, uint32_t max_age) {
  return PolicyVersion{number, policy(mode, max_age), 0, ""};
}

struct HorizonCase {
  const char* name;
  std::vector<PolicyVersion> versions;
  std::vector<ConfirmationAt> confirmations;
  uint32_t below;
  int64_t still_served;
  CacheHorizon expected;
};

TEST(CacheHorizon, EachVersionIsCachedUntilANewerOneIsConfirmedPlusItsMaxAge) {
  const std::vector<HorizonCase> cases = {
      {"nothing served", {}, {}, 1, 500, {500, 0, 0, 500}},
      {"one version, superseded", {version(1, Mode::Enforce, 100)}, {{1, 10}, {2, 50}}, 2, 50, {150, 1, 100, 50}},
      {"an older version with a longer max_age wins", {version(1, Mode::Enforce, 1000), version(2, Mode::Enforce, 100)}, {{1, 0}, {2, 50}, {3, 500}}, 3, 500, {1050, 1, 1000, 50}},
      {"the newest one wins when its max_age reaches further", {version(1, Mode::Enforce, 100), version(2, Mode::Testing, 1000)}, {{1, 0}, {2, 50}, {3, 500}}, 3, 500, {1500, 2, 1000, 500}},
      {"a version never confirmed was served until the next confirmation", {version(1, Mode::Enforce, 100), version(2, Mode::Enforce, 5000), version(3, Mode::Enforce, 100)}, {{1, 0}, {3, 70}, {4, 90}}, 4, 90, {5070, 2, 5000, 70}},
      {"re-confirming the same version does not end it", {version(1, Mode::Enforce, 100)}, {{1, 0}, {1, 30}, {2, 60}}, 2, 60, {160, 1, 100, 60}},
      {"none versions do not count", {version(1, Mode::None, 9999), version(2, Mode::Enforce, 10)}, {{1, 0}, {2, 5}, {3, 20}}, 3, 20, {30, 2, 10, 20}},
      {"expired long ago: nothing held past still_served", {version(1, Mode::Enforce, 10)}, {{1, 0}, {2, 5}}, 2, 100, {100, 0, 0, 100}},
      {"versions at or above `below` are not counted", {version(1, Mode::Enforce, 10), version(2, Mode::Enforce, 9999)}, {{1, 0}, {2, 5}}, 2, 5, {15, 1, 10, 5}},
      {"no newer confirmation: still served", {version(1, Mode::Enforce, 10), version(2, Mode::Enforce, 50)}, {{1, 0}}, UINT32_MAX, 1000, {1050, 2, 50, 1000}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto h = cache_horizon(c.versions, c.confirmations, c.below, c.still_served);
    EXPECT_EQ(h.until, c.expected.until);
    EXPECT_EQ(h.version, c.expected.version);
    EXPECT_EQ(h.max_age, c.expected.max_age);
    EXPECT_EQ(h.served_until, c.expected.served_until);
  }
}

class Retire : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kStart)));
    open();
  }
  void open() { state_ = std::make_shared<PolicyStore>(disk_.db(), clock_); }
  void restart() {
    state_.reset();
    disk_.reopen();
    open();
  }
  int64_t now() const { return unix_seconds(clock_->now()); }
  void at(int64_t t) { clock_->set(std::chrono::system_clock::time_point(seconds(t))); }
  DomainStatus status(const char* domain) { return *state_->status(domain, now()); }
  void confirm(const char* domain, uint32_t version) { state_->confirm(domain, version, true, "served"); }
  uint32_t stage(const char* domain, const Policy& p) { return state_->stage(domain, p, false).version; }
  std::vector<std::string> kinds(const char* domain, size_t n) {
    std::vector<std::string> out;
    for (const auto& e : state_->events(domain, n)) out.push_back(e.kind);
    return out;
  }
  // v1 enforce (a week) confirmed at kStart; v2 enforce (a day) confirmed a day later; v3
  // testing (30 days) staged a day after that, never confirmed but served by the policy
  // host until the next confirmation.
  void history() {
    state_->add_domain("example.com", {});
    confirm("example.com", stage("example.com", policy(Mode::Enforce, 7 * kDay)));
    at(kStart + kDay);
    confirm("example.com", stage("example.com", policy(Mode::Enforce, kDay, "mx2.example.com")));
    at(kStart + 2 * kDay);
    stage("example.com", policy(Mode::Testing, 30 * kDay));
  }

  test_support::TempStore disk_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<PolicyStore> state_;
};

TEST_F(Retire, TheRemovalTimeIsTheLongestCacheOfAnyEarlierVersionOnceTheNoneVersionIsConfirmed) {
  history();
  at(kStart + 3 * kDay);
  const Retirement retirement = state_->retire("example.com", "customer left");
  EXPECT_EQ(retirement.version, 4u);
  EXPECT_FALSE(retirement.removal);
  auto st = status("example.com");
  ASSERT_TRUE(st.staged && st.retirement);
  EXPECT_EQ(st.staged->number, 4u);
  EXPECT_EQ(st.staged->policy.mode, Mode::None);
  EXPECT_EQ(st.staged->policy.mx, (std::vector<std::string>{"mx2.example.com"})) << "the confirmed policy's mx lines";
  EXPECT_EQ(st.staged->policy.max_age, 86400u) << "RFC 8461 §8.3: a small max_age";
  EXPECT_EQ(st.confirmed->number, 2u) << "the id follows only what is confirmed";
  EXPECT_EQ(st.retirement->since, kStart + 3 * kDay);
  EXPECT_EQ(st.retirement->reason, "customer left");
  EXPECT_FALSE(st.retirement->removal);
  EXPECT_EQ(kinds("example.com", 2), (std::vector<std::string>{"retiring", "staged"}));
  EXPECT_TRUE(state_->scheduled_removals().empty()) << "no removal time before the none version is confirmed";

  at(kStart + 4 * kDay);
  confirm("example.com", 4);
  st = status("example.com");
  ASSERT_TRUE(st.retirement && st.retirement->removal);
  // v1: served until v2's confirmation (day 1) + 7 days = day 8; v2: until v4's (day 4) + 1
  // day = day 5; v3: staged, served until v4's confirmation (day 4) + 30 days = day 34.
  EXPECT_EQ(st.retirement->removal->until, kStart + 34 * kDay);
  EXPECT_EQ(st.retirement->removal->version, 3u);
  EXPECT_EQ(st.retirement->removal->max_age, 30u * kDay);
  EXPECT_EQ(st.retirement->removal->served_until, kStart + 4 * kDay);
  EXPECT_EQ(kinds("example.com", 2), (std::vector<std::string>{"retirement_scheduled", "manual_confirm"}));
  EXPECT_EQ(state_->events("example.com", 1).front().detail,
            "records removed at 2025-02-04T00:00:00Z: version 3 (max_age 2592000) was served until 2025-01-05T00:00:00Z");
  const auto scheduled = state_->scheduled_removals();
  ASSERT_EQ(scheduled.size(), 1u);
  EXPECT_EQ(scheduled[0].domain, "example.com");
  EXPECT_EQ(scheduled[0].at, kStart + 34 * kDay);

  restart();
  EXPECT_EQ(status("example.com").retirement->removal->until, kStart + 34 * kDay) << "kept across a restart";
  EXPECT_EQ(state_->scheduled_removals().size(), 1u);
}

TEST_F(Retire, TheSweeperRemovesTheRecordsOnlyOnceTheRemovalTimeHasPassed) {
  history();
  confirm("example.com", state_->retire("example.com", "").version);
  state_->add_domain("kept.example", {});
  const int64_t removal = status("example.com").retirement->removal->until;
  RetirementSweeper sweeper(state_);

  at(removal - 1);
  EXPECT_TRUE(sweeper.sweep().empty());
  EXPECT_FALSE(state_->remove_retired("example.com")) << "not due";
  EXPECT_TRUE(state_->has_domain("example.com"));
  EXPECT_TRUE(state_->served("example.com"));

  at(removal);
  EXPECT_EQ(sweeper.sweep(), (std::vector<std::string>{"example.com"}));
  EXPECT_FALSE(state_->has_domain("example.com"));
  EXPECT_FALSE(state_->served("example.com"));
  EXPECT_TRUE(state_->has_domain("kept.example"));
  const auto removed = state_->events("example.com", 1).front();
  EXPECT_EQ(removed.kind, "removed");
  EXPECT_EQ(removed.detail, "retired");
  EXPECT_TRUE(state_->scheduled_removals().empty());
  EXPECT_TRUE(sweeper.sweep().empty());

  // Re-added, it starts afresh: no retirement, numbering continued.
  state_->add_domain("example.com", {});
  EXPECT_FALSE(status("example.com").retirement);
  EXPECT_EQ(stage("example.com", policy(Mode::Enforce, kDay)), 5u);
}

TEST_F(Retire, TheSweeperThreadFollowsTheStoreClock) {
  history();
  confirm("example.com", state_->retire("example.com", "").version);
  const int64_t removal = status("example.com").retirement->removal->until;
  RetirementSweeper sweeper(state_, RetirementSweeper::Timing{std::chrono::milliseconds(5), seconds(60)});
  sweeper.start();
  at(removal - 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(state_->has_domain("example.com")) << "twenty ticks before the time: kept";
  at(removal + 1);
  for (int i = 0; i < 400 && state_->has_domain("example.com"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(state_->has_domain("example.com"));
  sweeper.stop();
}

TEST_F(Retire, StagingAnotherModeCancelsIt) {
  history();
  confirm("example.com", state_->retire("example.com", "").version);
  EXPECT_EQ(stage("example.com", policy(Mode::None, 3600, "mx9.example.com")), 5u);
  EXPECT_TRUE(status("example.com").retirement) << "another none version keeps the retirement";
  EXPECT_EQ(stage("example.com", policy(Mode::Enforce, kDay)), 6u);
  EXPECT_FALSE(status("example.com").retirement);
  const auto cancelled = state_->events("example.com", 1).front();
  EXPECT_EQ(cancelled.kind, "retirement_cancelled");
  EXPECT_EQ(cancelled.version, 6u);
  EXPECT_TRUE(state_->scheduled_removals().empty());
  at(kStart + 400 * kDay);
  RetirementSweeper sweeper(state_);
  EXPECT_TRUE(sweeper.sweep().empty());
  EXPECT_TRUE(state_->has_domain("example.com"));

  // Through an import too.
  confirm("example.com", 6);
  state_->retire("example.com", "");
  state_->import({{"example.com", std::nullopt, policy(Mode::Testing, kDay)}}, false, "");
  EXPECT_FALSE(status("example.com").retirement);
}

TEST_F(Retire, UnretireCancelsItAndKeepsTheVersions) {
  history();
  state_->retire("example.com", "");
  state_->unretire("example.com");
  const auto st = status("example.com");
  EXPECT_FALSE(st.retirement);
  EXPECT_EQ(st.staged->number, 4u);
  EXPECT_EQ(st.staged->policy.mode, Mode::None);
  EXPECT_EQ(kinds("example.com", 1), (std::vector<std::string>{"retirement_cancelled"}));
  confirm("example.com", 4);
  EXPECT_FALSE(status("example.com").retirement) << "confirming the none version no longer schedules anything";
  EXPECT_THROW(state_->unretire("example.com"), RetirementConflict);
}

TEST_F(Retire, ANoneVersionAlreadyConfirmedIsTakenAsIs) {
  state_->add_domain("example.com", {});
  confirm("example.com", stage("example.com", policy(Mode::Enforce, 2 * kDay)));
  at(kStart + kDay);
  confirm("example.com", stage("example.com", policy(Mode::None, kDay)));
  at(kStart + kDay + 3600);
  const auto retirement = state_->retire("example.com", "");
  EXPECT_EQ(retirement.version, 2u) << "no new version";
  ASSERT_TRUE(retirement.removal);
  EXPECT_EQ(retirement.removal->until, kStart + 3 * kDay) << "v1 served until v2's confirmation + 2 days";
  EXPECT_EQ(status("example.com").staged->number, 2u);

  // A none version staged but not confirmed yet is the one to wait for.
  state_->add_domain("staged.example", {});
  confirm("staged.example", stage("staged.example", policy(Mode::Enforce, kDay)));
  stage("staged.example", policy(Mode::None, kDay));
  const auto waiting = state_->retire("staged.example", "");
  EXPECT_EQ(waiting.version, 2u);
  EXPECT_FALSE(waiting.removal);
}

TEST_F(Retire, RefusalsNameTheReason) {
  state_->add_domain("unconfirmed.example", {});
  stage("unconfirmed.example", policy(Mode::Enforce, kDay));
  history();
  state_->retire("example.com", "");
  struct Refusal {
    const char* name;
    std::function<void()> call;
    const char* message;
  };
  const std::vector<Refusal> refusals = {
      {"unknown domain", [&] { state_->retire("nope.example", ""); }, "not in the store"},
      {"nothing confirmed", [&] { state_->retire("unconfirmed.example", ""); }, "nothing is confirmed"},
      {"twice", [&] { state_->retire("example.com", ""); }, "already being retired since 2025-01-03T00:00:00Z (waiting for version 4 (mode none) to be confirmed)"},
      {"reason too long", [&] { state_->retire("unconfirmed.example", std::string(1025, 'x')); }, "reason is longer than 1024 bytes"},
  };
  for (const auto& r : refusals) {
    SCOPED_TRACE(r.name);
    try {
      r.call();
      ADD_FAILURE() << "not refused";
    } catch (const PolicyError& e) {
      EXPECT_NE(std::string(e.what()).find(r.message), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(status("example.com").staged->number, 4u) << "a refusal stages nothing";
}

TEST_F(Retire, RemoveRefusesWhileASenderMayHoldThePolicyUnlessForced) {
  state_->add_domain("enforce.example", {});
  confirm("enforce.example", stage("enforce.example", policy(Mode::Enforce, kDay)));
  state_->add_domain("testing.example", {});
  confirm("testing.example", stage("testing.example", policy(Mode::Testing, kDay)));
  state_->add_domain("staged.example", {});
  stage("staged.example", policy(Mode::Enforce, kDay));
  state_->add_domain("none.example", {});
  confirm("none.example", stage("none.example", policy(Mode::Enforce, kDay)));
  at(kStart + 3600);
  confirm("none.example", stage("none.example", policy(Mode::None, kDay)));
  state_->add_domain("pending.example", {});
  confirm("pending.example", stage("pending.example", policy(Mode::None, kDay)));
  stage("pending.example", policy(Mode::Enforce, 2 * kDay));
  at(kStart + 7200);

  struct Case {
    const char* domain;
    const char* refusal;  // nullptr: removed without force
  };
  const std::vector<Case> cases = {
      {"enforce.example", "its confirmed policy, version 1 (enforce, max_age 86400), is published: senders that fetched it keep applying it for up to 86400 s after its records disappear (RFC 8461 §8.3); retire the domain instead"},
      {"testing.example", "version 1 (testing, max_age 86400), is published"},
      {"none.example", "senders may hold version 1 (max_age 86400, served until 2025-01-01T01:00:00Z) until 2025-01-02T01:00:00Z"},
      {"pending.example", "senders may hold version 2 (max_age 172800, staged, so served now) until 2025-01-03T02:00:00Z"},
      {"staged.example", nullptr},  // nothing was ever published
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.domain);
    if (!c.refusal) {
      state_->remove_domain(c.domain);
      EXPECT_EQ(state_->events(c.domain, 1).front().detail, "");
      continue;
    }
    try {
      state_->remove_domain(c.domain);
      ADD_FAILURE() << "not refused";
    } catch (const RetirementConflict& e) {
      EXPECT_NE(std::string(e.what()).find(c.refusal), std::string::npos) << e.what();
    }
    EXPECT_TRUE(state_->has_domain(c.domain));
    state_->remove_domain(c.domain, RemovalCheck::Force);
    EXPECT_FALSE(state_->has_domain(c.domain));
    const auto removed = state_->events(c.domain, 1).front();
    EXPECT_EQ(removed.kind, "removed");
    EXPECT_EQ(removed.detail.rfind("forced: ", 0), 0u) << removed.detail;
  }

  // Once every cached policy has expired, a `none` domain goes without force.
  state_->add_domain("expired.example", {});
  confirm("expired.example", stage("expired.example", policy(Mode::Enforce, kDay)));
  confirm("expired.example", stage("expired.example", policy(Mode::None, kDay)));
  at(kStart + 7200 + kDay);
  state_->remove_domain("expired.example");
  EXPECT_FALSE(state_->has_domain("expired.example"));
}

TEST_F(Retire, RemoveDuringARetirementSaysWhenItsRecordsGo) {
  history();
  state_->retire("example.com", "");
  at(kStart + 4 * kDay);
  confirm("example.com", 4);
  try {
    state_->remove_domain("example.com");
    ADD_FAILURE() << "not refused";
  } catch (const RetirementConflict& e) {
    EXPECT_NE(std::string(e.what()).find("it is being retired (records removed at 2025-02-04T00:00:00Z"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace stsd::store
