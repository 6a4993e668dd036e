// What `stsctl reports`, `reports --stale` and `check` print from the admin API's TLS-RPT
// documents (the contract of GET /v1/reports, plugins/tlsrpt/README.md).
#include <gtest/gtest.h>

#include <sstream>

#include "reports_ingest.h"
#include "reports_text.h"

namespace stsctl {
namespace {

using nlohmann::json;

const json kDomainReports = json::parse(R"({
  "domain": "example.com", "since": "2026-11-01",
  "totals": {"successful": 2000, "failed": 8},
  "failures": {"sts-policy-fetch-error": 5, "validation-failure": 3},
  "stale": [{"reporter": "Google Inc.", "version": 1, "confirmed_version": 2,
             "confirmed_at": "2026-11-28T10:00:00Z", "successful": 1200, "failed": 3,
             "first": "2026-11-29", "last": "2026-11-30"}],
  "unknown_policy": 1, "days": []
})");

TEST(ReportsText, Domain) {
  std::ostringstream out;
  print_domain_reports(kDomainReports, out);
  EXPECT_EQ(out.str(),
            "TLS-RPT reports for example.com since 2026-11-01\n"
            "sessions:       2000 successful, 8 failed sessions\n"
            "failures:       sts-policy-fetch-error 5, validation-failure 3\n"
            "stale:          Google Inc. applied version 1 while version 2 was confirmed (since "
            "2026-11-28T10:00:00Z): 1200 successful, 3 failed sessions, 2026-11-29 to 2026-11-30\n"
            "unknown policy: 1 (reports of a policy stsd never published for this domain)\n");
}

TEST(ReportsText, NothingReceived) {
  const json empty = {{"domain", "example.org"}, {"since", "2026-09-01"},
                      {"totals", {{"successful", 0}, {"failed", 0}}}, {"failures", json::object()},
                      {"stale", json::array()}, {"unknown_policy", 0}, {"days", json::array()}};
  EXPECT_EQ(reports_summary_line(empty), "TLS-RPT reports since 2026-09-01: none received");
  std::ostringstream out;
  print_domain_reports(empty, out);
  EXPECT_NE(out.str().find("stale:          none"), std::string::npos) << out.str();
}

TEST(ReportsText, CheckLine) {
  EXPECT_EQ(reports_summary_line(kDomainReports),
            "TLS-RPT reports since 2026-11-01: 2000 successful, 8 failed sessions (sts-policy-fetch-error 5, "
            "validation-failure 3); STALE versions in use: Google Inc. v1 (stsctl reports example.com)");
}

TEST(ReportsText, StaleAcrossDomains) {
  std::ostringstream out;
  print_stale_reports({{"domains", {{{"domain", "example.com"}, {"stale", kDomainReports["stale"]}}}}}, out);
  EXPECT_EQ(out.str(),
            "example.com: Google Inc. applied version 1 while version 2 was confirmed (since 2026-11-28T10:00:00Z): "
            "1200 successful, 3 failed sessions, 2026-11-29 to 2026-11-30\n"
            "1 domain with stale policy versions in use\n");
  std::ostringstream none;
  print_stale_reports({{"domains", json::array()}}, none);
  EXPECT_EQ(none.str().rfind("no stale policy versions reported", 0), 0u);
}

// What an MTA pipe transport gets for each answer of POST /v1/reports.
TEST(ReportsIngest, AnswersToOutcomes) {
  struct Case {
    unsigned status;
    json body;
    IngestOutcome outcome;
  } cases[] = {
      {200, {{"stored", true}, {"duplicate", false}}, IngestOutcome::Stored},
      {200, {{"stored", false}, {"duplicate", true}}, IngestOutcome::Duplicate},
      {200, {{"stored", false}, {"duplicate", false}}, IngestOutcome::Refused},
      {400, {{"error", "policies[0].summary.total-failure-session-count: missing"}}, IngestOutcome::Refused},
      {413, nullptr, IngestOutcome::Refused},
      {415, {{"error", "send the body as Content-Type: application/json"}}, IngestOutcome::TryLater},
      {404, {{"error", "no such route"}}, IngestOutcome::TryLater},
      {429, nullptr, IngestOutcome::TryLater},
      {503, {{"error", "the store refuses writes"}}, IngestOutcome::TryLater},
      {507, {{"error", "no room for a report older than every day kept"}}, IngestOutcome::Refused},
  };
  for (const auto& c : cases) EXPECT_EQ(classify_ingest_answer(c.status, c.body), c.outcome) << c.status;
}

}  // namespace
}  // namespace stsctl
