// The id (issue 3 "The id"): a pure function of the rotation period containing now and
// the confirmed version's number and digest.
#include <random>
#include <regex>

#include <gtest/gtest.h>

#include "clock.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::store {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int64_t kJan1 = 1735689600;  // 2025-01-01T00:00:00Z
const std::string kDigest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

bool valid_id(const std::string& id) {
  static const std::regex pattern("^[A-Za-z0-9]{1,32}$");
  return std::regex_match(id, pattern);
}

TEST(IdFormat, DailyRotationShowsTheDate) {
  EXPECT_EQ(policy_id(kJan1, hours(24), 3, kDigest), "20250101v3d9f86d081884c");
}

TEST(IdFormat, PrecisionFollowsTheRotation) {
  const int64_t t = kJan1 + 13 * 3600 + 25 * 60 + 7;
  EXPECT_EQ(policy_id(period_start(t, hours(1)), hours(1), 1, kDigest), "2025010113v1d9f86d081884c");
  EXPECT_EQ(policy_id(period_start(t, minutes(5)), minutes(5), 1, kDigest), "202501011325v1d9f86d081884c");
  // 7-second periods start on multiples of 7 s since the epoch: 13:25:06 here.
  EXPECT_EQ(period_start(t, seconds(7)), t - 1);
  EXPECT_EQ(policy_id(period_start(t, seconds(7)), seconds(7), 1, kDigest), "20250101132506v1d9f86d081884c");
}

TEST(IdFormat, LongestIdFitsIn32Characters) {
  const auto id = policy_id(kJan1 + 59, seconds(1), UINT32_MAX, kDigest);
  EXPECT_EQ(id.size(), 32u) << id;
  EXPECT_TRUE(valid_id(id)) << id;
}

TEST(IdFormat, CharsetAndLengthOverRandomInputs) {
  std::mt19937_64 random(12345);
  const seconds rotations[] = {seconds(1), seconds(7), minutes(1), minutes(90), hours(1), hours(24), hours(24 * 7)};
  for (int i = 0; i < 20000; ++i) {
    const int64_t now = static_cast<int64_t>(random() % 8000000000ull);  // up to year 2223
    const auto rotation = rotations[random() % std::size(rotations)];
    const uint32_t version = static_cast<uint32_t>(random() >> (random() % 33));
    const auto id = policy_id(period_start(now, rotation), rotation, version == 0 ? 1 : version, kDigest);
    ASSERT_TRUE(valid_id(id)) << id;
  }
}

TEST(IdFormat, DistinctPeriodsAndContentsGiveDistinctIds) {
  const auto day = hours(24);
  EXPECT_NE(policy_id(kJan1, day, 1, kDigest), policy_id(kJan1 + 86400, day, 1, kDigest));
  EXPECT_NE(policy_id(kJan1, day, 1, kDigest), policy_id(kJan1, day, 2, kDigest));
  std::string other = kDigest;
  other[3] = 'a';
  EXPECT_NE(policy_id(kJan1, day, 1, kDigest), policy_id(kJan1, day, 1, other));
  // "v1" + "1..." must not collide with "v11" + "...": the 'd' separator keeps them apart.
  EXPECT_NE(policy_id(kJan1, day, 1, "1" + kDigest), policy_id(kJan1, day, 11, kDigest));
}

TEST(IdFormat, PeriodStartFloorsAtTheBoundary) {
  EXPECT_EQ(period_start(kJan1, hours(24)), kJan1);
  EXPECT_EQ(period_start(kJan1 - 1, hours(24)), kJan1 - 86400);
  EXPECT_EQ(period_start(kJan1 + 86399, hours(24)), kJan1);
  EXPECT_EQ(period_start(-1, hours(24)), -86400);
}

// ---- through the store, with a fake clock -------------------------------------------------

class IdFromStore : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kJan1 + 3600)));
    state_ = std::make_unique<PolicyStore>(store_.db(), clock_);
    state_->set_rotation(hours(24));
    state_->add_domain("example.com", {});
  }
  std::string id() { return state_->status("example.com", unix_seconds(clock_->now()))->served_id; }
  uint32_t stage(const char* mx) {
    return state_->stage("example.com", Policy{Mode::Enforce, {mx}, 604800}, false).version;
  }

  test_support::TempStore store_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PolicyStore> state_;
};

TEST_F(IdFromStore, NothingConfirmedMeansNoId) {
  stage("mx1.example.com");
  EXPECT_EQ(id(), "");
  EXPECT_EQ(state_->served("example.com")->confirmed, std::nullopt);
}

TEST_F(IdFromStore, RotatesExactlyAtTheDomainsOwnBoundary) {
  // SHA-256("example.com") starts a379a6f6: 0xa379a6f6 % 86400 = 63606 s, i.e. 17:40:06 UTC.
  constexpr int64_t kOffset = 63606;
  state_->confirm("example.com", stage("mx1.example.com"), true, "test");
  EXPECT_EQ(state_->status("example.com", kJan1)->rotation_offset, kOffset);
  clock_->set(std::chrono::system_clock::time_point(seconds(kJan1 + kOffset - 1)));
  const auto before = id();
  EXPECT_TRUE(before.starts_with("20250101v1d")) << before;
  clock_->advance(seconds(1));
  const auto after = id();
  EXPECT_TRUE(after.starts_with("20250102v1d")) << after << ": the period ending 2025-01-02 17:40:06 is named by that day";
  EXPECT_NE(before, after);
  EXPECT_EQ(state_->status("example.com", kJan1 + kOffset)->next_rotation, kJan1 + kOffset + 86400);
}

TEST_F(IdFromStore, ChangesOnConfirmNotOnStage) {
  state_->confirm("example.com", stage("mx1.example.com"), true, "test");
  const auto confirmed = id();
  const uint32_t v2 = stage("mx2.example.com");
  EXPECT_EQ(id(), confirmed) << "a staged version must never move the id";
  state_->confirm("example.com", v2, false, "", "served by every vantage");
  EXPECT_NE(id(), confirmed);
  EXPECT_TRUE(id().starts_with("20250101v2d")) << id();
}

TEST_F(IdFromStore, NoCollisionAfterRestoreReusesAVersionNumber) {
  state_->confirm("example.com", stage("mx1.example.com"), true, "test");
  const auto original = id();
  // A second store "restored from a backup" that numbers a different policy 1 too.
  test_support::TempStore restored;
  PolicyStore other(restored.db(), clock_);
  other.set_rotation(hours(24));
  other.add_domain("example.com", {});
  const auto v = other.stage("example.com", Policy{Mode::Enforce, {"mx9.example.com"}, 604800}, false).version;
  ASSERT_EQ(v, 1u);
  other.confirm("example.com", v, true, "restore");
  const auto after_restore = other.status("example.com", unix_seconds(clock_->now()))->served_id;
  EXPECT_NE(after_restore, original);
  EXPECT_EQ(after_restore.substr(0, 11), original.substr(0, 11)) << "same period, same number";
}

TEST_F(IdFromStore, SameStateSameTimeSameIdOnEveryInstance) {
  state_->confirm("example.com", stage("mx1.example.com"), true, "test");
  const auto first = id();
  store_.close();
  state_.reset();
  store_.open();
  PolicyStore reopened(store_.db(), clock_);
  reopened.set_rotation(hours(24));
  EXPECT_EQ(reopened.status("example.com", unix_seconds(clock_->now()))->served_id, first);
}

TEST_F(IdFromStore, HoldFreezesTheIdUntilReleased) {
  state_->confirm("example.com", stage("mx1.example.com"), true, "test");
  const auto held = id();
  state_->set_hold("example.com", std::string("edge 192.0.2.7 serves something else"));
  clock_->advance(hours(48));
  EXPECT_EQ(id(), held) << "no rotation while held";
  EXPECT_EQ(state_->status("example.com", unix_seconds(clock_->now()))->next_rotation, 0);
  state_->set_hold("example.com", std::string("still drifting"));
  EXPECT_EQ(id(), held) << "a second hold keeps the original period";
  state_->set_hold("example.com", std::nullopt);
  EXPECT_TRUE(id().starts_with("20250103v1d")) << id();
}

TEST_F(IdFromStore, ServedViewComputesTheSameId) {
  state_->confirm("example.com", stage("mx1.example.com"), true, "test");
  auto served = state_->served("EXAMPLE.com.");
  ASSERT_TRUE(served);
  char buffer[kMaxIdLength];
  const size_t n = served->id_at(unix_seconds(clock_->now()), state_->schedule(), buffer);
  EXPECT_EQ(std::string(buffer, n), id());
}

}  // namespace
}  // namespace stsd::store
