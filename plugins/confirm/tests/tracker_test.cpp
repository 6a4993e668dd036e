// The confirmation rule (K consecutive rounds from every vantage spanning the soak) and
// the drift watch, driven by a ManualClock.
#include "tracker.h"

#include <gtest/gtest.h>

#include "clock.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::confirm {
namespace {

using namespace std::chrono_literals;

VantageOutcome serving(const std::string& vantage, Served served, uint32_t version) {
  VantageOutcome outcome;
  outcome.vantage = vantage;
  outcome.label = "edge " + vantage;
  outcome.served = served;
  outcome.version = version;
  switch (served) {
    case Served::Staged: outcome.words = outcome.label + " serves version " + std::to_string(version); break;
    case Served::Confirmed:
    case Served::Older: outcome.words = outcome.label + " still serves version " + std::to_string(version); break;
    case Served::Other: outcome.words = outcome.label + " serves a policy that matches no version"; break;
    case Served::Unparsable: outcome.words = outcome.label + " serves a file senders reject"; break;
    case Served::Error: outcome.words = outcome.label + ": HTTP 404 Not Found (senders accept only 200)"; break;
  }
  outcome.fingerprint = std::string(served_name(served)) + std::to_string(version);
  if (served == Served::Error) outcome.error = FetchError::HttpStatus;
  return outcome;
}

const std::string kEdge1 = "127.0.0.11:8443";
const std::string kEdge2 = "127.0.0.12:8443";

class Rounds : public ::testing::Test {
 protected:
  TrackerSettings settings() const {
    TrackerSettings s;
    s.probes = 3;
    s.soak = 10min;
    s.interval = 60s;
    s.drift_interval = 1h;
    s.max_backoff = 15min;
    return s;
  }

  // One round at the clock's time, then the clock moves by the verdict's delay.
  RoundVerdict round(DomainTracker& tracker, std::optional<uint32_t> pending, std::optional<uint32_t> confirmed,
                     std::vector<VantageOutcome> outcomes) {
    RoundInput input;
    input.at = clock.now();
    input.pending = pending;
    input.confirmed = confirmed;
    input.outcomes = std::move(outcomes);
    auto verdict = tracker.record(input);
    clock.advance(verdict.next_delay);
    return verdict;
  }

  ManualClock clock{std::chrono::system_clock::time_point(1'750'000'000s)};
};

TEST_F(Rounds, ConfirmsOnlyAfterKRoundsSpanningTheSoak) {
  DomainTracker tracker(settings());
  int rounds_until_confirm = 0;
  RoundVerdict verdict;
  do {
    ++rounds_until_confirm;
    ASSERT_LE(rounds_until_confirm, 20);
    verdict = round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)});
  } while (!verdict.confirm);
  // K=3 is reached at the third round, but the soak (10 min at 60 s) needs 11 rounds:
  // the first at t=0 and the last at t=600 s.
  EXPECT_EQ(rounds_until_confirm, 11);
  EXPECT_EQ(tracker.streak(), 11u);
  EXPECT_NE(verdict.confirm_detail.find("version 2 served by every vantage (edge 127.0.0.11:8443, edge 127.0.0.12:8443) "
                                        "on 11 consecutive rounds"),
            std::string::npos)
      << verdict.confirm_detail;
  EXPECT_NE(verdict.confirm_detail.find("(10 minutes)"), std::string::npos) << verdict.confirm_detail;
}

TEST_F(Rounds, ConfirmsAfterKRoundsWhenTheSoakIsShorter) {
  auto s = settings();
  s.soak = 90s;
  DomainTracker tracker(s);
  auto both = [] { return std::vector{serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)}; };
  EXPECT_FALSE(round(tracker, 2, 1, both()).confirm);   // t=0
  auto second = round(tracker, 2, 1, both());           // t=60: 2 rounds, 60 s
  EXPECT_FALSE(second.confirm);
  EXPECT_NE(second.summary.find("needs 1 more round and the soak time (30 seconds more)"), std::string::npos)
      << second.summary;
  EXPECT_TRUE(round(tracker, 2, 1, both()).confirm);    // t=120: 3 rounds over 120 s >= 90 s
}

TEST_F(Rounds, OneProbeAndNoSoakConfirmsAtTheFirstRound) {
  auto s = settings();
  s.probes = 1;
  s.soak = 0s;
  DomainTracker tracker(s);
  EXPECT_TRUE(round(tracker, 1, std::nullopt, {serving(kEdge1, Served::Staged, 1)}).confirm);
}

TEST_F(Rounds, ALaggingEdgeKeepsTheIdAndResetsTheCount) {
  auto s = settings();
  s.soak = 0s;
  DomainTracker tracker(s);
  round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)});
  round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)});
  EXPECT_EQ(tracker.streak(), 2u);
  // Edge 2 falls back to the old file (a CDN node restarted with a stale cache).
  auto lagging = round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Confirmed, 1)});
  EXPECT_FALSE(lagging.confirm);
  EXPECT_EQ(tracker.streak(), 0u);
  EXPECT_EQ(lagging.summary, "waiting for version 2: edge 127.0.0.12:8443 still serves version 1");
  EXPECT_FALSE(lagging.failed) << "lagging is not a failure: no backoff";
  EXPECT_EQ(lagging.next_delay, 60s);
  EXPECT_FALSE(lagging.drift) << "the confirmed version is still what it serves";
  // It takes K fresh rounds again.
  EXPECT_FALSE(round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)}).confirm);
  EXPECT_FALSE(round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)}).confirm);
  EXPECT_TRUE(round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)}).confirm);
}

TEST_F(Rounds, FailuresBackOffUpToTheCapAndRecover) {
  DomainTracker tracker(settings());
  std::vector<std::chrono::seconds> delays;
  for (int i = 0; i < 6; ++i) {
    auto verdict = round(tracker, 2, 1, {serving(kEdge1, Served::Error, 0), serving(kEdge2, Served::Staged, 2)});
    EXPECT_TRUE(verdict.failed);
    EXPECT_FALSE(verdict.confirm);
    delays.push_back(verdict.next_delay);
  }
  EXPECT_EQ(delays, (std::vector<std::chrono::seconds>{120s, 240s, 480s, 900s, 900s, 900s}));
  EXPECT_EQ(tracker.consecutive_failures(), 6u);
  auto healed = round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)});
  EXPECT_FALSE(healed.failed);
  EXPECT_EQ(healed.next_delay, 60s);
  EXPECT_EQ(tracker.consecutive_failures(), 0u);
  EXPECT_EQ(tracker.streak(), 1u);
}

TEST_F(Rounds, EveryKindOfBadAnswerNeverConfirms) {
  auto s = settings();
  s.probes = 1;
  s.soak = 0s;
  for (Served bad : {Served::Error, Served::Other, Served::Unparsable, Served::Older, Served::Confirmed}) {
    DomainTracker tracker(s);
    for (int i = 0; i < 5; ++i) {
      auto verdict = round(tracker, 3, 2, {serving(kEdge1, Served::Staged, 3), serving(kEdge2, bad, 1)});
      EXPECT_FALSE(verdict.confirm) << served_name(bad);
    }
  }
}

TEST_F(Rounds, NoVantageOrNoAddressNeverConfirms) {
  auto s = settings();
  s.probes = 1;
  s.soak = 0s;
  DomainTracker tracker(s);
  EXPECT_FALSE(round(tracker, 1, std::nullopt, {}).confirm);
  RoundInput input;
  input.at = clock.now();
  input.pending = 1;
  input.setup_error = "mta-sts.example.com does not exist (NXDOMAIN)";
  auto verdict = tracker.record(input);
  EXPECT_FALSE(verdict.confirm);
  EXPECT_TRUE(verdict.failed);
  EXPECT_EQ(verdict.summary, "waiting for version 1: mta-sts.example.com does not exist (NXDOMAIN)");
}

TEST_F(Rounds, ANewVantageRestartsTheCount) {
  auto s = settings();
  s.soak = 0s;
  DomainTracker tracker(s);
  round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2)});
  round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2)});
  EXPECT_EQ(tracker.streak(), 2u);
  // The resolver now also returns edge 2: it has not been watched for K rounds.
  EXPECT_FALSE(round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)}).confirm);
  EXPECT_EQ(tracker.streak(), 1u);
}

TEST_F(Rounds, ANewerStagedVersionRestartsTheCount) {
  auto s = settings();
  s.soak = 0s;
  DomainTracker tracker(s);
  round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2)});
  round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2)});
  auto verdict = round(tracker, 3, 1, {serving(kEdge1, Served::Staged, 3)});
  EXPECT_FALSE(verdict.confirm);
  EXPECT_EQ(tracker.streak(), 1u);
  EXPECT_EQ(tracker.target(), 3u);
}

TEST_F(Rounds, TheSoakCountsFromTheFirstRoundOfTheStreakNotOfThePendingVersion) {
  auto s = settings();
  s.probes = 2;
  s.soak = 5min;
  DomainTracker tracker(s);
  // Seven minutes of a lagging edge, then both serve it.
  for (int i = 0; i < 7; ++i) round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Confirmed, 1)});
  int rounds = 0;
  RoundVerdict verdict;
  do {
    ++rounds;
    ASSERT_LE(rounds, 10);
    verdict = round(tracker, 2, 1, {serving(kEdge1, Served::Staged, 2), serving(kEdge2, Served::Staged, 2)});
  } while (!verdict.confirm);
  EXPECT_EQ(rounds, 6);   // t = 0, 60, ..., 300 s of the streak
}

TEST_F(Rounds, DriftIsAConfirmedVersionNoLongerServed) {
  DomainTracker tracker(settings());
  auto steady = round(tracker, std::nullopt, 2, {serving(kEdge1, Served::Confirmed, 2), serving(kEdge2, Served::Confirmed, 2)});
  EXPECT_FALSE(steady.drift);
  EXPECT_EQ(steady.next_delay, 1h);
  EXPECT_EQ(steady.summary, "confirmed version 2 is served by all 2 vantages");

  auto drift = round(tracker, std::nullopt, 2, {serving(kEdge1, Served::Confirmed, 2), serving(kEdge2, Served::Other, 0)});
  EXPECT_TRUE(drift.drift);
  EXPECT_EQ(drift.drift_reason,
            "version 2 is no longer served everywhere: edge 127.0.0.12:8443 serves a policy that matches no version");
  EXPECT_EQ(drift.next_delay, 120s) << "while drifting, look again soon (with backoff) to see it heal";
  const auto fingerprint = drift.drift_fingerprint;
  auto same = round(tracker, std::nullopt, 2, {serving(kEdge1, Served::Confirmed, 2), serving(kEdge2, Served::Other, 0)});
  EXPECT_EQ(same.drift_fingerprint, fingerprint);
  auto different = round(tracker, std::nullopt, 2, {serving(kEdge1, Served::Confirmed, 2), serving(kEdge2, Served::Error, 0)});
  EXPECT_NE(different.drift_fingerprint, fingerprint);

  auto healed = round(tracker, std::nullopt, 2, {serving(kEdge1, Served::Confirmed, 2), serving(kEdge2, Served::Confirmed, 2)});
  EXPECT_FALSE(healed.drift);
  EXPECT_EQ(healed.next_delay, 1h);
}

TEST_F(Rounds, TheStagedVersionAppearingFirstIsNotDrift) {
  // RFC 8461 §8.1: the new file is published before the id moves.
  DomainTracker tracker(settings());
  auto verdict = round(tracker, 3, 2, {serving(kEdge1, Served::Staged, 3), serving(kEdge2, Served::Confirmed, 2)});
  EXPECT_FALSE(verdict.drift);
  auto stale = round(tracker, 3, 2, {serving(kEdge1, Served::Staged, 3), serving(kEdge2, Served::Older, 1)});
  EXPECT_TRUE(stale.drift) << "an edge serving version 1 would hand senders a file the id does not describe";
}

}  // namespace
}  // namespace stsd::confirm
// clang-format on
