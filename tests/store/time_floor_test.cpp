// The store's time never goes back (issue 12, case 11): ids, SOA-serial inputs and change
// stamps are held while the clock is behind a time already used, within a process and
// across a restart (the persisted lease), on a real RocksDB.
#include <gtest/gtest.h>

#include "clock.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::store {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

constexpr int64_t kJan1 = 1735689600;  // 2025-01-01T00:00:00Z

std::chrono::system_clock::time_point at(int64_t unix) { return std::chrono::system_clock::time_point(seconds(unix)); }

TEST(TimeFloor, HoldsTheHighestTimeUsed) {
  TimeFloor floor;
  EXPECT_EQ(floor.hold(kJan1), kJan1);
  EXPECT_EQ(floor.hold(kJan1 + 10), kJan1 + 10);
  EXPECT_EQ(floor.hold(kJan1 - 86400), kJan1 + 10) << "a step back must not move the time back";
  EXPECT_EQ(floor.hold(kJan1 + 11), kJan1 + 11) << "once the clock passes the floor, time moves again";
}

TEST(TimeFloor, StartsAtTheSavedLease) {
  TimeFloor floor(TimeFloor::Lease{kJan1, kJan1 + TimeFloor::kLeaseAhead});
  EXPECT_EQ(floor.hold(kJan1 - 3600), kJan1 + TimeFloor::kLeaseAhead);
  EXPECT_EQ(floor.hold(kJan1 + 100), kJan1 + 100);
}

TEST(TimeFloor, LeaseIsRenewedAheadOfTheTimeUsed) {
  TimeFloor floor;
  auto lease = floor.renewal(kJan1);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->seen, kJan1);
  EXPECT_EQ(lease->until, kJan1 + TimeFloor::kLeaseAhead);
  floor.renewed(*lease);
  EXPECT_FALSE(floor.renewal(kJan1 + TimeFloor::kLeaseAhead - TimeFloor::kRenewWithin))
      << "renewed only when less than kRenewWithin remains";
  EXPECT_TRUE(floor.renewal(kJan1 + TimeFloor::kLeaseAhead - TimeFloor::kRenewWithin + 1));
  // The DNS path may have used a time beyond the lease (the watch was late): the next lease
  // covers it.
  floor.hold(kJan1 + 1000);
  lease = floor.renewal(kJan1 + 1);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->until, kJan1 + 1000 + TimeFloor::kLeaseAhead);
}

TEST(TimeFloor, HeldClockDoesNotPushTheLease) {
  // After a restart behind the lease the time used is the lease itself; renewing then
  // would move the lease (and the next restart's time) further ahead for nothing.
  TimeFloor floor(TimeFloor::Lease{kJan1, kJan1 + TimeFloor::kLeaseAhead});
  floor.observe(kJan1 - 3600);
  EXPECT_EQ(floor.hold(kJan1 - 3600), kJan1 + TimeFloor::kLeaseAhead);
  EXPECT_FALSE(floor.renewal(kJan1 - 3600));
  const auto lease = floor.renewal(kJan1 + TimeFloor::kLeaseAhead - TimeFloor::kRenewWithin + 1);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->seen, kJan1 + TimeFloor::kLeaseAhead - TimeFloor::kRenewWithin + 1);
  // The highest reading is kept, so a restart still sees the step back.
  floor.observe(kJan1 + 100);
  floor.hold(kJan1 + 100);  // used, beyond the lease: due whatever the clock says
  EXPECT_EQ(floor.renewal(kJan1 + 200)->seen, kJan1 + 200);
  const auto after_step = floor.renewal(kJan1 - 500);
  ASSERT_TRUE(after_step);
  EXPECT_EQ(after_step->seen, kJan1 + 100);
  EXPECT_EQ(after_step->until, kJan1 + 100 + TimeFloor::kLeaseAhead);
}

TEST(TimeFloor, StepBackIsSeenOnceUntilTheClockCatchesUp) {
  TimeFloor floor;
  EXPECT_FALSE(floor.observe(kJan1).step_started);
  EXPECT_FALSE(floor.observe(kJan1 - TimeFloor::kStepTolerance).step_started) << "jitter is not a step";
  auto seen = floor.observe(kJan1 - 3600);
  EXPECT_TRUE(seen.step_started);
  EXPECT_EQ(seen.behind, 3600);
  EXPECT_FALSE(floor.observe(kJan1 - 3000).step_started) << "the same step";
  EXPECT_EQ(floor.behind(), 3000);
  EXPECT_EQ(floor.observe(kJan1 + 1).behind, 0);
  EXPECT_TRUE(floor.observe(kJan1 - 60).step_started);
  EXPECT_EQ(floor.steps_back(), 2u);
}

TEST(TimeFloor, StepBackFromATimeOnlyTheDnsPathSaw) {
  // The watch looks once a second; a time DNS used in between still counts as seen.
  TimeFloor floor;
  floor.observe(kJan1);
  floor.hold(kJan1 + 86400);
  const auto seen = floor.observe(kJan1 + 1);
  EXPECT_TRUE(seen.step_started);
  EXPECT_EQ(seen.behind, 86399);
  // The lease a restart starts from is not a reading: no step at start for it alone.
  TimeFloor restarted(TimeFloor::Lease{kJan1, kJan1 + TimeFloor::kLeaseAhead});
  restarted.hold(kJan1 + 1);
  EXPECT_FALSE(restarted.observe(kJan1 + 1).step_started);
}

TEST(TimeFloor, LeaseTextRoundTripsAndRefusesGarbage) {
  const TimeFloor::Lease lease{kJan1, kJan1 + 30};
  const auto decoded = TimeFloor::decode(TimeFloor::encode(lease));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->seen, lease.seen);
  EXPECT_EQ(decoded->until, lease.until);
  for (const char* bad : {"", "1", "1 ", " 1", "a b", "10 5", "1 2 3", "1  2"})
    EXPECT_FALSE(TimeFloor::decode(bad)) << "'" << bad << "'";
}

class ClockStepBack : public ::testing::Test {
 protected:
  // example.com rotates at 17:40:06 UTC each day.
  static constexpr int64_t kBoundary = kJan1 + 63606;

  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(at(kBoundary - 3600));
    open();
    state_->add_domain("example.com", {});
    const auto version = state_->stage("example.com", Policy{Mode::Enforce, {"mx1.example.com"}, 604800}, false).version;
    state_->confirm("example.com", version, true, "test");
  }
  void open() {
    state_.reset();
    state_ = std::make_unique<PolicyStore>(store_.db(), clock_);
    state_->set_rotation(hours(24));
  }
  std::string id() { return state_->status("example.com", unix_seconds(clock_->now()))->served_id; }

  test_support::TempStore store_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PolicyStore> state_;
};

TEST_F(ClockStepBack, IdAndStampsHoldWhileTheClockIsBehind) {
  const std::string before = id();
  clock_->set(at(kBoundary + 60));
  const int64_t used = state_->now();
  const std::string rotated = id();
  ASSERT_NE(rotated, before);
  clock_->set(at(kBoundary - 86400));  // a day back
  EXPECT_EQ(state_->now(), used);
  EXPECT_EQ(id(), rotated) << "the id must not go back to an earlier period";
  state_->update_settings("example.com", DomainSettings{});
  EXPECT_GE(state_->served("example.com")->settings_changed_at, used) << "a write stamps the held time";
  EXPECT_EQ(state_->last_change(), used);
}

TEST_F(ClockStepBack, RestartBehindTheLeaseStartsAtTheLease) {
  clock_->set(at(kBoundary + 60));
  const std::string rotated = id();
  state_->renew_time_floor();
  clock_->set(at(kBoundary - 86400));  // the machine restarts with its clock a day back
  store_.reopen();
  open();
  EXPECT_GE(state_->now(), kBoundary + 60) << "the floor must start at the persisted lease";
  EXPECT_LE(state_->now(), kBoundary + 60 + TimeFloor::kLeaseAhead);
  EXPECT_EQ(id(), rotated);
}

TEST_F(ClockStepBack, LeaseWriteFailureLeavesTheFloorInMemory) {
  clock_->set(at(kBoundary + 60));
  const std::string rotated = id();
  store_.reopen_read_only();
  open();
  clock_->set(at(kBoundary + 120));
  EXPECT_EQ(state_->now(), kBoundary + 120);  // used by DNS
  EXPECT_THROW(state_->renew_time_floor(), StoreError);
  clock_->set(at(kBoundary - 86400));
  EXPECT_EQ(state_->now(), kBoundary + 120);
  EXPECT_EQ(id(), rotated);
}

// Facts (PolicyStore::fact) are what other parts keep across restarts: zone serial
// inputs, the catalog's state.
TEST(StoreFacts, SurviveAReopenAndRefuseBadNames) {
  test_support::TempStore store;
  auto clock = std::make_shared<ManualClock>(at(kJan1));
  {
    PolicyStore state(store.db(), clock);
    EXPECT_FALSE(state.fact("transfer/catalog"));
    state.put_fact("transfer/catalog", "1735689600 abc");
    state.put_fact("transfer/catalog", "1735689601 def");
    EXPECT_THROW(state.put_fact("Bad Name", "x"), PolicyError);
    EXPECT_THROW(state.put_fact("", "x"), PolicyError);
  }
  store.reopen();
  PolicyStore state(store.db(), clock);
  EXPECT_EQ(state.fact("transfer/catalog").value_or(""), "1735689601 def");
}

}  // namespace
}  // namespace stsd::store
