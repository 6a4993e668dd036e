// Whether a round is evidence for an id change: every vantage served exactly the
// confirmed version; anything else holds the id and names the vantage and the reason.
#include "evidence.h"

#include <gtest/gtest.h>

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::confirm {
namespace {

const std::string kEdge1 = "127.0.0.11:8443";
const std::string kEdge2 = "127.0.0.12:8443";

VantageOutcome served(const std::string& vantage, Served what, uint32_t version, FetchError error = FetchError::None) {
  VantageOutcome outcome;
  outcome.vantage = vantage;
  outcome.label = "edge " + vantage;
  outcome.served = what;
  outcome.version = version;
  outcome.error = error;
  switch (what) {
    case Served::Error: outcome.words = outcome.label + ": no complete answer within 3 s (timed out reading)"; break;
    case Served::Older: outcome.words = outcome.label + " still serves version " + std::to_string(version); break;
    default: outcome.words = outcome.label + " serves version " + std::to_string(version); break;
  }
  return outcome;
}

struct EvidenceCase {
  const char* name;
  std::optional<uint32_t> confirmed;
  std::optional<std::string> setup_error;
  std::vector<VantageOutcome> outcomes;
  bool verified;
  const char* vantage;
  const char* reason;
  const char* detail;
};

TEST(Evidence, OnlyEveryVantageServingTheConfirmedVersionCounts) {
  const EvidenceCase cases[] = {
      {"every edge serves it", 2u, std::nullopt, {served(kEdge1, Served::Confirmed, 2), served(kEdge2, Served::Confirmed, 2)},
       true, "", "", "version 2 served by every vantage (edge 127.0.0.11:8443, edge 127.0.0.12:8443)"},
      {"an edge went back to version 1", 2u, std::nullopt, {served(kEdge1, Served::Confirmed, 2), served(kEdge2, Served::Older, 1)},
       false, "127.0.0.12:8443", "older-version", "edge 127.0.0.12:8443 still serves version 1"},
      {"an edge timed out", 2u, std::nullopt, {served(kEdge1, Served::Error, 0, FetchError::Timeout), served(kEdge2, Served::Confirmed, 2)},
       false, "127.0.0.11:8443", "timeout", "edge 127.0.0.11:8443: no complete answer within 3 s (timed out reading)"},
      {"a TLS failure", 2u, std::nullopt, {served(kEdge1, Served::Error, 0, FetchError::Tls)},
       false, "127.0.0.11:8443", "tls", "edge 127.0.0.11:8443: no complete answer"},
      {"the staged version is not the confirmed one", 2u, std::nullopt, {served(kEdge1, Served::Staged, 3)},
       false, "127.0.0.11:8443", "staged-version", "edge 127.0.0.11:8443 serves version 3 (staged, not confirmed yet)"},
      {"both edges wrong: both named, the first labels the metric", 2u, std::nullopt,
       {served(kEdge1, Served::Older, 1), served(kEdge2, Served::Other, 0)},
       false, "127.0.0.11:8443", "older-version", "edge 127.0.0.11:8443 still serves version 1; edge 127.0.0.12:8443 serves"},
      {"no vantage at all", 2u, std::nullopt, {},
       false, "", "no-vantage", "no vantage to probe"},
      {"vantages not determined", 2u, std::string("mta-sts.example.com does not resolve"), {},
       false, "", "no-vantage", "mta-sts.example.com does not resolve"},
      {"nothing confirmed", std::nullopt, std::nullopt, {served(kEdge1, Served::Staged, 1)},
       false, "", "nothing-confirmed", "nothing is confirmed"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    RoundInput round;
    round.confirmed = c.confirmed;
    round.setup_error = c.setup_error;
    round.outcomes = c.outcomes;
    const Evidence evidence = judge_evidence(round);
    EXPECT_EQ(evidence.verified, c.verified);
    EXPECT_EQ(evidence.vantage, c.vantage);
    EXPECT_EQ(evidence.reason, c.reason);
    EXPECT_NE(evidence.detail.find(c.detail), std::string::npos) << evidence.detail;
  }
}

TEST(Evidence, AVersionNumberOtherThanTheConfirmedOneIsNotEvidence) {
  // A round that compared with version 2 while version 3 is confirmed says nothing of 3.
  RoundInput round;
  round.confirmed = 3;
  round.outcomes = {served(kEdge1, Served::Confirmed, 2)};
  EXPECT_FALSE(judge_evidence(round).verified);
}

}  // namespace
}  // namespace stsd::confirm
// clang-format on
