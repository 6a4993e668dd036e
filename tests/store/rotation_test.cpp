// Rotation at each domain's own offset, and verified id changes (issue 11): the schedule
// as a pure function, the migration from epoch-aligned periods, and the evidence a
// rotation needs, through a real store.
#include <map>
#include <random>
#include <regex>
#include <set>

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

// ---- the schedule ------------------------------------------------------------------------

TEST(RotationSchedule, OffsetIsTheDocumentedHashOfTheName) {
  // printf example.com | sha256sum -> a379a6f6...; 0xa379a6f6 = 2742658806.
  EXPECT_EQ(rotation_hash("example.com"), 2742658806u);
  EXPECT_EQ(rotation_offset(rotation_hash("example.com"), hours(24)), 63606);  // 17:40:06 UTC
  EXPECT_EQ(rotation_offset(rotation_hash("example.com"), hours(1)), 2742658806 % 3600);
}

TEST(RotationSchedule, TwentyThousandDomainsSpreadOverTheDay) {
  // Done-when of issue 11: no minute of the day holds more than 3x the mean.
  constexpr int kDomains = 20000;
  std::vector<int> per_minute(1440, 0);
  for (int i = 0; i < kDomains; ++i) {
    const std::string domain = "customer" + std::to_string(i) + (i % 3 ? ".example.com" : ".example.net");
    ++per_minute[rotation_offset(rotation_hash(domain), hours(24)) / 60];
  }
  const double mean = static_cast<double>(kDomains) / 1440;
  const int busiest = *std::max_element(per_minute.begin(), per_minute.end());
  EXPECT_LE(busiest, 3 * mean) << "busiest minute " << busiest << ", mean " << mean;
  EXPECT_GT(*std::min_element(per_minute.begin(), per_minute.end()), 0) << "some minute has no rotation at all";
}

TEST(RotationSchedule, PeriodsTileTimeAndLabelsNeverRepeat) {
  const seconds rotations[] = {seconds(1),  seconds(7), minutes(1),      minutes(90),
                               hours(1),    hours(24),  hours(24 * 2),   hours(24 * 31)};
  std::mt19937_64 random(7);
  for (const auto rotation : rotations) {
    for (int d = 0; d < 50; ++d) {
      const uint32_t hash = static_cast<uint32_t>(random());
      const RotationSchedule schedule{rotation, 0};
      int64_t t = kJan1 + static_cast<int64_t>(random() % 100000000);
      Period p = period_at(t, hash, schedule);
      std::string previous_id;
      for (int k = 0; k < 40; ++k) {
        ASSERT_LE(p.start, t);
        ASSERT_LT(t, p.end);
        ASSERT_EQ(p.end - p.start, rotation.count());
        ASSERT_EQ((p.start - rotation_offset(hash, rotation)) % rotation.count(), 0) << "boundary off the offset";
        const std::string id = policy_id(p.label, rotation, 7, kDigest);
        ASSERT_TRUE(valid_id(id)) << id;
        ASSERT_NE(id, previous_id) << "two consecutive periods share an id";
        if (!previous_id.empty()) ASSERT_GT(id.substr(0, id.find('v')), previous_id.substr(0, previous_id.find('v')));
        previous_id = id;
        const Period next = period_at(p.end, hash, schedule);
        ASSERT_EQ(next.start, p.end);
        ASSERT_EQ(period_at(p.end - 1, hash, schedule).start, p.start);
        t = p.end;
        p = next;
      }
    }
  }
}

TEST(RotationSchedule, OffsetZeroKeepsTheEpochAlignedLabels) {
  // A domain whose offset is 0 shows the same ids as before offsets existed.
  const RotationSchedule day{hours(24), 0};
  uint32_t hash = 0;
  const Period p = period_at(kJan1 + 5, hash, day);
  EXPECT_EQ(p.start, kJan1);
  EXPECT_EQ(policy_id(p.label, hours(24), 3, kDigest), "20250101v3d9f86d081884c");
}

TEST(RotationSchedule, MigratedStoreMovesNoIdAtTheUpgrade) {
  // Migrated at 10:00 on Jan 1: until each domain's first own boundary after that, the
  // epoch-aligned periods stay (same ids as the old stsd served); then the own periods.
  const int64_t migrated = kJan1 + 10 * 3600;
  const RotationSchedule migrated_day{hours(24), migrated};
  const RotationSchedule old_day{hours(24), 0};
  std::mt19937_64 random(11);
  for (int i = 0; i < 2000; ++i) {
    const uint32_t hash = static_cast<uint32_t>(random());
    const int64_t offset = rotation_offset(hash, hours(24));
    // Right at the migration, the id is the epoch-aligned one (label = aligned start).
    EXPECT_EQ(period_at(migrated, hash, migrated_day).label, period_start(migrated, hours(24)));
    // The first own boundary after the migration, then only own periods.
    const int64_t first_own = offset > 10 * 3600 ? kJan1 + offset : kJan1 + 86400 + offset;
    const Period before = period_at(first_own - 1, hash, migrated_day);
    const Period after = period_at(first_own, hash, migrated_day);
    EXPECT_EQ(before.end, first_own);
    EXPECT_EQ(after.start, first_own);
    EXPECT_EQ(after.label, period_at(first_own, hash, old_day).label);
    EXPECT_GT(policy_id(after.label, hours(24), 1, kDigest), policy_id(before.label, hours(24), 1, kDigest))
        << "the first own period must have a new, later label";
  }
}

// ---- verified rotation through the store ----------------------------------------------------

class VerifiedRotation : public ::testing::Test {
 protected:
  // example.com rotates at 17:40:06 UTC (see OffsetIsTheDocumentedHashOfTheName).
  static constexpr int64_t kBoundary = kJan1 + 63606;

  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(at(kBoundary - 3600));
    open();
    state_->add_domain("example.com", {});
    version_ = state_->stage("example.com", Policy{Mode::Enforce, {"mx1.example.com"}, 604800}, false).version;
    state_->confirm("example.com", version_, true, "test");
  }
  void open() {
    state_ = std::make_unique<PolicyStore>(store_.db(), clock_);
    state_->set_rotation(hours(24));
  }
  static std::chrono::system_clock::time_point at(int64_t unix) {
    return std::chrono::system_clock::time_point(seconds(unix));
  }
  int64_t now() const { return unix_seconds(clock_->now()); }
  DomainStatus status() { return *state_->status("example.com", now()); }
  std::string id() { return status().served_id; }
  EvidenceResult evidence(bool verified, int64_t seen_at, seconds window = minutes(10)) {
    return state_->record_rotation_evidence(
        "example.com", RotationEvidence{version_, verified, seen_at, window, "edge 192.0.2.8 serves version 1"});
  }
  std::vector<std::string> event_kinds() {
    std::vector<std::string> kinds;
    for (const auto& e : state_->events("example.com", 100)) kinds.push_back(e.kind);
    return kinds;
  }

  test_support::TempStore store_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PolicyStore> state_;
  uint32_t version_ = 0;
};

TEST_F(VerifiedRotation, UngatedDomainRotatesFreely) {
  const auto before = id();
  clock_->set(at(kBoundary));
  EXPECT_NE(id(), before) << "no verifier gates this domain: it rotates as before";
  EXPECT_FALSE(status().rotation_held);
}

TEST_F(VerifiedRotation, FreshEvidenceLetsTheIdRotateOnTime) {
  EXPECT_TRUE(evidence(false, now()).written);  // gated now
  clock_->set(at(kBoundary - 300));
  const auto before = id();
  EXPECT_TRUE(evidence(true, now()).written);
  clock_->set(at(kBoundary));
  EXPECT_NE(id(), before);
  EXPECT_FALSE(status().rotation_held);
  EXPECT_EQ(status().next_rotation, kBoundary + 86400);
}

TEST_F(VerifiedRotation, MissingEvidenceHoldsTheIdAndFreshEvidenceJumpsToTheCurrentPeriod) {
  evidence(false, now());
  const auto before = id();
  clock_->set(at(kBoundary + 3600));
  EXPECT_EQ(id(), before) << "no evidence: the id must not move";
  EXPECT_TRUE(status().rotation_held);
  const int64_t txt_changed_before = state_->served("example.com")->txt_changed_at;
  const auto result = evidence(true, now());
  EXPECT_TRUE(result.written);
  EXPECT_TRUE(result.id_changed);
  EXPECT_NE(id(), before);
  EXPECT_FALSE(status().rotation_held);
  EXPECT_GT(state_->served("example.com")->txt_changed_at, txt_changed_before) << "the SOA serial must move";
  const auto kinds = event_kinds();
  EXPECT_EQ(kinds.front(), "rotation_resumed");
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "rotation_held"), kinds.end());
  // The jump is to the current period: the same id as an ungated domain would show now.
  EXPECT_EQ(id(), status().served_id);
  EXPECT_TRUE(id().starts_with("20250102")) << id();
}

TEST_F(VerifiedRotation, ContradictingEvidenceAfterGoodEvidenceHoldsTheIdWhereItIs) {
  evidence(false, now());
  clock_->set(at(kBoundary - 300));
  evidence(true, now());
  const auto before = id();
  clock_->set(at(kBoundary - 100));
  EXPECT_TRUE(evidence(false, now()).written) << "an edge regressed after the good round";
  EXPECT_EQ(id(), before);
  clock_->set(at(kBoundary + 1));
  EXPECT_EQ(id(), before) << "the id must not rotate on evidence that was contradicted";
  EXPECT_FALSE(evidence(false, now()).written) << "a second bad round changes nothing and logs nothing new";
}

TEST_F(VerifiedRotation, OldEvidenceDoesNotCount) {
  evidence(false, now());
  clock_->set(at(kBoundary - 30 * 60));
  EXPECT_FALSE(evidence(true, now()).written) << "30 min before the boundary, a 10 min window does not cover it";
  const auto before = id();
  clock_->set(at(kBoundary));
  EXPECT_EQ(id(), before);
}

TEST_F(VerifiedRotation, EvidenceAboutAnotherVersionIsIgnored) {
  evidence(false, now());
  const auto result = state_->record_rotation_evidence(
      "example.com", RotationEvidence{version_ + 1, true, now(), minutes(10), "about version 2"});
  EXPECT_FALSE(result.written);
}

TEST_F(VerifiedRotation, EvidenceThatChangesNothingIsNotWritten) {
  evidence(false, now());
  clock_->set(at(kBoundary - 300));
  ASSERT_TRUE(evidence(true, now()).written);
  const uint64_t generation = state_->generation();
  clock_->advance(seconds(60));
  EXPECT_FALSE(evidence(true, now()).written) << "still covers the same boundary only";
  EXPECT_EQ(state_->generation(), generation);
}

TEST_F(VerifiedRotation, GatesSurviveARestart) {
  evidence(false, now());
  const auto before = id();
  store_.close();
  state_.reset();
  store_.open();
  open();
  clock_->set(at(kBoundary + 10));
  EXPECT_EQ(id(), before);
  char buffer[kMaxIdLength];
  const auto served = state_->served("example.com");
  EXPECT_EQ(std::string(buffer, served->id_at(now(), state_->schedule(), buffer)), before);
  const std::string wire = served->wire_key;
  const auto view = state_->served_wire({reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
  EXPECT_EQ(std::string(buffer, view.id_at(now(), state_->schedule(), buffer)), before) << "DNS agrees";
}

TEST_F(VerifiedRotation, ManualConfirmationGatesWhenAVerifierRuns) {
  state_->set_rotation_evidence_required(true);
  const uint32_t v2 = state_->stage("example.com", Policy{Mode::Enforce, {"mx2.example.com"}, 604800}, false).version;
  state_->confirm("example.com", v2, true, "by hand");
  const auto confirmed = id();
  EXPECT_TRUE(confirmed.find("v2d") != std::string::npos) << confirmed;
  clock_->set(at(kBoundary + 10));
  EXPECT_EQ(id(), confirmed) << "the next rotation waits for the verifier's evidence";
}

TEST_F(VerifiedRotation, WithoutAVerifierAManualConfirmationLiftsTheGate) {
  evidence(false, now());
  clock_->set(at(kBoundary + 60));
  const auto held = id();
  ASSERT_TRUE(status().rotation_held);
  EXPECT_EQ(status().rotation_held_since, kBoundary) << "the boundary the id did not cross";
  state_->confirm("example.com", version_, true, "confirmer removed; rotation by the operator's word");
  EXPECT_FALSE(status().rotate_until);
  EXPECT_NE(id(), held) << "ungated again: the id shows the current period";
}

TEST_F(VerifiedRotation, AutomaticConfirmationCarriesItsEvidence) {
  const uint32_t v2 = state_->stage("example.com", Policy{Mode::Enforce, {"mx2.example.com"}, 604800}, false).version;
  clock_->set(at(kBoundary - 120));
  state_->confirm("example.com", v2, false, "", "served by every vantage", now() + 600);
  EXPECT_EQ(status().rotate_until, now() + 600);
  const auto confirmed = id();
  clock_->set(at(kBoundary));
  EXPECT_NE(id(), confirmed) << "the confirming round's evidence covers the boundary";
}

TEST_F(VerifiedRotation, GateUngatedRotationsGatesEveryConfirmedDomainOnce) {
  state_->add_domain("pending.example", {});
  state_->stage("pending.example", Policy{Mode::Testing, {"mx.pending.example"}, 86400}, false);
  EXPECT_EQ(state_->gate_ungated_rotations(), 1u) << "only confirmed, ungated domains";
  EXPECT_EQ(state_->gate_ungated_rotations(), 0u);
  EXPECT_EQ(status().rotate_until, now());
}

}  // namespace
}  // namespace stsd::store
