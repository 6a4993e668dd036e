// The sections of `stsctl check`, each from facts a check gathers (the store's status,
// DNS lookups, fetches): what each says, and which findings are problems.
#include "report_sections.h"

#include <functional>

#include <gtest/gtest.h>

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::confirm {
namespace {

using namespace std::chrono_literals;

const std::string kDomain = "example.com";
constexpr auto kRotation = std::chrono::seconds(24h);
const TimePoint kChecked = TimePoint(std::chrono::seconds(1'800'000'000));   // 2027-01-15 08:00 UTC
const int64_t kCheckedUnix = 1'800'000'000;

store::PolicyVersion version(uint32_t number, store::Mode mode, std::vector<std::string> mx) {
  store::PolicyVersion out;
  out.number = number;
  out.policy.mode = mode;
  out.policy.mx = std::move(mx);
  out.digest = store::policy_digest(out.policy);
  return out;
}

std::string id_of(const store::PolicyVersion& version, int64_t period) {
  return store::policy_id(period, kRotation, version.number, version.digest);
}

// Version 3 (enforce, mx1 and *.backup) confirmed at kChecked - 2 days, served now.
store::DomainStatus confirmed_status() {
  store::DomainStatus status;
  status.domain = kDomain;
  status.confirmed = version(3, store::Mode::Enforce, {"mx1.example.com", "*.backup.example.com"});
  status.confirmation = store::Confirmation{3, kCheckedUnix - 2 * 86400, false, "seen"};
  status.served_id = id_of(*status.confirmed, store::period_start(kCheckedUnix, kRotation));
  status.previous_id = id_of(*status.confirmed, store::period_start(kCheckedUnix, kRotation) - kRotation.count());
  return status;
}

TxtLookup txt_answer(std::vector<std::string> texts, LookupStatus status = LookupStatus::Ok) {
  TxtLookup lookup;
  lookup.status = status;
  lookup.ttl = 300;
  for (auto& text : texts) lookup.records.push_back({std::move(text), 1});
  if (status == LookupStatus::Failed) lookup.error = "timed out";
  return lookup;
}

struct TxtCase {
  const char* name;
  std::function<std::vector<std::string>(const store::DomainStatus&)> records;
  bool nothing_confirmed;
  bool ok;
  const char* words;   // what the line must contain
};

TEST(CheckReportTxt, JudgesTheRecordAgainstTheServedId) {
  const auto previous_period = store::period_start(kCheckedUnix, kRotation) - kRotation.count();
  const std::vector<TxtCase> cases = {
      {"served id", [](const auto& s) { return std::vector<std::string>{"v=STSv1; id=" + s.served_id + ";"}; },
       false, true, "; it carries the id stsd serves now"},
      {"previous period's id",
       [&](const auto& s) { return std::vector<std::string>{"v=STSv1; id=" + id_of(*s.confirmed, previous_period)}; },
       false, true, "; it is the previous period's id (stsd now serves "},
      {"foreign id", [](const auto&) { return std::vector<std::string>{"v=STSv1; id=20200101v1abc;"}; }, false, false,
       " does not reach stsd (check the NS or CNAME delegation), or a cache holds an old record"},
      {"bad id", [](const auto&) { return std::vector<std::string>{"v=STSv1; id=not-an-id;"}; }, false, false,
       "; its id is not 1-32 letters or digits"},
      {"two records", [](const auto& s) { return std::vector<std::string>{"v=STSv1; id=" + s.served_id, "v=STSv1; id=x"}; },
       false, false, ": 2 v=STSv1 records (senders treat that as no policy"},
      {"none while confirmed", [](const auto&) { return std::vector<std::string>{}; }, false, false,
       ": no v=STSv1 record (senders see no policy)"},
      {"none before confirmation", [](const auto&) { return std::vector<std::string>{}; }, true, true,
       ": no v=STSv1 record (expected: nothing is confirmed yet)"},
      {"one from elsewhere before confirmation", [](const auto&) { return std::vector<std::string>{"v=STSv1; id=abc"}; },
       true, false, "; stsd serves no record for example.com (nothing confirmed), so this one comes from elsewhere"},
      {"another TXT record beside it",
       [](const auto& s) { return std::vector<std::string>{"v=STSv1; id=" + s.served_id, "google-site-verification=x"}; },
       false, false, " also has 1 other TXT record(s) (maddy then ignores MTA-STS): google-site-verification=x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto status = confirmed_status();
    const auto records = c.records(status);
    if (c.nothing_confirmed) {
      status.confirmed.reset();
      status.confirmation.reset();
      status.served_id.clear();
    }
    CheckReport report;
    const auto ttl = add_txt_section(report, kDomain, txt_answer(records), status);
    ASSERT_EQ(report.lines.size(), 1u);
    EXPECT_NE(report.lines[0].find(c.words), std::string::npos) << report.lines[0];
    EXPECT_EQ(report.json["txt"]["ok"], c.ok);
    EXPECT_EQ(report.problems.empty(), c.ok);
    EXPECT_EQ(ttl.has_value(), report.json["txt"]["sts_records"] == 1);
  }
}

TEST(CheckReportTxt, AFailedLookupIsAProblemAndLeavesTheTtlUnknown) {
  CheckReport report;
  const auto ttl = add_txt_section(report, kDomain, txt_answer({}, LookupStatus::Failed), confirmed_status());
  EXPECT_FALSE(ttl);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].rfind("TXT _mta-sts.example.com: ", 0), 0u) << report.problems[0];
}

struct MxCase {
  const char* name;
  LookupStatus status;
  std::vector<MxRecord> records;
  bool pending_staged;                  // version 4 (enforce, mx1 only) is staged
  std::vector<std::string> lines;       // after the first line
  size_t problems;
};

TEST(CheckReportMx, NamesThePatternCoveringEachHost) {
  const std::vector<MxCase> cases = {
      {"covered", LookupStatus::Ok, {{10, "mx1.example.com"}, {20, "a.backup.example.com"}}, false,
       {"MX mx1.example.com (preference 10): covered by mx1.example.com in confirmed version 3",
        "MX a.backup.example.com (preference 20): covered by *.backup.example.com in confirmed version 3"},
       0},
      {"not covered by the enforce policy", LookupStatus::Ok, {{10, "mx9.example.net"}}, false,
       {"MX mx9.example.net (preference 10): NOT covered by confirmed version 3 (mode enforce)"}, 1},
      {"dropped by the staged version", LookupStatus::Ok, {{20, "a.backup.example.com"}}, true,
       {"MX a.backup.example.com (preference 20): covered by *.backup.example.com in confirmed version 3; NOT "
        "covered by staged version 4"},
       1},
      {"no MX: the domain itself", LookupStatus::NoData, {}, false,
       {"MX example.com (preference 0): NOT covered by confirmed version 3 (mode enforce)"}, 1},
      {"null MX", LookupStatus::Ok, {{0, ""}}, false, {}, 0},
      {"NXDOMAIN", LookupStatus::NxDomain, {}, false, {}, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto status = confirmed_status();
    if (c.pending_staged) status.staged = version(4, store::Mode::Enforce, {"mx1.example.com"});
    MxLookup mx;
    mx.status = c.status;
    mx.records = c.records;
    CheckReport report;
    add_mx_section(report, kDomain, mx, status, c.pending_staged);
    ASSERT_EQ(report.lines.size(), c.lines.size() + 1);
    for (size_t i = 0; i < c.lines.size(); ++i) EXPECT_EQ(report.lines[i + 1], c.lines[i]);
    EXPECT_EQ(report.problems.size(), c.problems);
    EXPECT_EQ(report.json["mx"]["hosts"].size(), c.lines.size());
  }
}

struct TlsRptCase {
  const char* name;
  std::vector<std::string> rua;
  std::vector<std::string> records;
  bool ok;
  const char* words;
};

TEST(CheckReportTlsRpt, ComparesWithTheConfiguredRecord) {
  const std::vector<TlsRptCase> cases = {
      {"as configured", {"mailto:tls@example.com"}, {"v=TLSRPTv1; rua=mailto:tls@example.com"}, true,
       "TLS-RPT _smtp._tls.example.com: one record \"v=TLSRPTv1; rua=mailto:tls@example.com\", as configured"},
      {"none, none configured", {}, {}, true, "TLS-RPT _smtp._tls.example.com: no record (none configured in stsd)"},
      {"missing", {"mailto:tls@example.com"}, {}, false,
       "TLS-RPT _smtp._tls.example.com: no record, but stsd is configured to serve \"v=TLSRPTv1; "
       "rua=mailto:tls@example.com\""},
      {"different", {"mailto:tls@example.com"}, {"v=TLSRPTv1; rua=mailto:other@example.com"}, false,
       "TLS-RPT _smtp._tls.example.com: \"v=TLSRPTv1; rua=mailto:other@example.com\" differs from what stsd serves "
       "(\"v=TLSRPTv1; rua=mailto:tls@example.com\")"},
      {"from elsewhere", {}, {"v=TLSRPTv1; rua=mailto:other@example.com"}, true,
       "TLS-RPT _smtp._tls.example.com: \"v=TLSRPTv1; rua=mailto:other@example.com\" (served from elsewhere; stsd "
       "has no TLS-RPT URIs for example.com)"},
      {"two", {}, {"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"}, false,
       "TLS-RPT _smtp._tls.example.com: 2 v=TLSRPTv1 records (senders use none of them)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto status = confirmed_status();
    status.settings.tlsrpt_rua = c.rua;
    CheckReport report;
    add_tlsrpt_section(report, kDomain, txt_answer(c.records), status);
    ASSERT_EQ(report.lines.size(), 1u);
    EXPECT_EQ(report.lines[0], c.words);
    EXPECT_EQ(report.json["tlsrpt"]["ok"], c.ok);
    EXPECT_EQ(report.problems.empty(), c.ok);
  }
}

// What a vantage served, as the check's fetch compares it.
VantageOutcome serving(const std::string& vantage, Served served, uint32_t version, std::vector<std::string> mx) {
  VantageOutcome outcome;
  outcome.vantage = vantage;
  outcome.label = "edge " + vantage;
  outcome.served = served;
  outcome.version = version;
  outcome.mx = std::move(mx);
  outcome.words = outcome.label + (served == Served::Older ? " still serves version " : " serves version ") +
                  std::to_string(version);
  if (served == Served::Error) outcome.words = outcome.label + ": no complete answer within 4 s (timed out)";
  return outcome;
}

TEST(CheckReportSafeToAdd, ConfirmationPlusRotationPlusTtl) {
  auto status = confirmed_status();
  status.staged = version(4, store::Mode::Enforce, {"mx1.example.com", "mx2.example.com"});
  const std::vector<VantageOutcome> both_serve_3 = {
      serving("192.0.2.7", Served::Confirmed, 3, status.confirmed->policy.mx),
      serving("192.0.2.8", Served::Confirmed, 3, status.confirmed->policy.mx)};
  CheckReport report;
  add_safe_to_add_section(report, status, true, 600u, kRotation, kChecked, both_serve_3);
  ASSERT_EQ(report.json["safe_to_add"].size(), 3u);
  // Confirmed 2 days ago + 1 day + 600 s: already safe.
  EXPECT_EQ(report.json["safe_to_add"][0]["from"], kCheckedUnix - 86400 + 600);
  EXPECT_EQ(report.json["safe_to_add"][0]["safe"], true);
  EXPECT_NE(report.lines[0].find(" (already): confirmed at "), std::string::npos) << report.lines[0];
  EXPECT_NE(report.lines[0].find("+ TXT TTL 600 s"), std::string::npos) << report.lines[0];
  // Only in the staged version: not before it is confirmed.
  EXPECT_EQ(report.json["safe_to_add"][2]["pattern"], "mx2.example.com");
  EXPECT_TRUE(report.json["safe_to_add"][2]["from"].is_null());
  EXPECT_EQ(report.json["safe_to_add"][2]["safe"], false);

  CheckReport unknown_ttl;
  add_safe_to_add_section(unknown_ttl, status, false, std::nullopt, kRotation, kChecked, both_serve_3);
  EXPECT_NE(unknown_ttl.lines[0].find("+ TXT TTL 300 s (assumed)"), std::string::npos) << unknown_ttl.lines[0];
}

TEST(CheckReportSafeToAdd, TheWorstTransferLagOfTheSecondariesIsAdded) {
  // Confirmed 2 days ago + 1 day + 600 s, as above; secondaries seen lagging up to 2 days.
  auto status = confirmed_status();
  status.staged = version(4, store::Mode::Enforce, {"mx1.example.com", "mx2.example.com"});
  const std::vector<VantageOutcome> both_serve_3 = {
      serving("192.0.2.7", Served::Confirmed, 3, status.confirmed->policy.mx),
      serving("192.0.2.8", Served::Confirmed, 3, status.confirmed->policy.mx)};
  struct Case {
    const char* name;
    std::optional<std::chrono::seconds> lag;
    int64_t from;
    bool safe;
    const char* words;  // in the first line, "" when none about secondaries
  };
  const Case cases[] = {
      {"no secondary seen", std::nullopt, kCheckedUnix - 86400 + 600, true, ""},
      {"a lag of 45 s", std::chrono::seconds(45), kCheckedUnix - 86400 + 600 + 45, true,
       "+ TXT TTL 600 s + worst transfer lag of the secondaries 45 s"},
      {"a lag longer than what is left", std::chrono::seconds(2 * 86400), kCheckedUnix + 86400 + 600, false,
       "+ worst transfer lag of the secondaries 172800 s"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CheckReport report;
    add_safe_to_add_section(report, status, true, 600u, kRotation, kChecked, both_serve_3, c.lag);
    const auto& first = report.json["safe_to_add"][0];
    EXPECT_EQ(first["from"], c.from);
    EXPECT_EQ(first["safe"], c.safe);
    EXPECT_EQ(first["transfer_lag"].is_null(), !c.lag);
    if (c.lag) EXPECT_EQ(first["transfer_lag"], c.lag->count());
    if (*c.words)
      EXPECT_NE(report.lines[0].find(c.words), std::string::npos) << report.lines[0];
    else
      EXPECT_EQ(report.lines[0].find("transfer lag"), std::string::npos) << report.lines[0];
    EXPECT_EQ(report.lines[0].find("(already)") != std::string::npos, c.safe) << report.lines[0];
    // A pattern only in the staged version names the lag too.
    EXPECT_EQ(report.lines[2].find("transfer lag") != std::string::npos, c.lag.has_value()) << report.lines[2];
  }
}

TEST(CheckReportSafeToAdd, NotSafeWhileAVantageServesAPolicyWithoutIt) {
  // Version 4 (mx1, mxb) confirmed two days ago; what each edge serves now decides.
  auto status = confirmed_status();
  status.confirmed = version(4, store::Mode::Enforce, {"mx1.example.com", "mxb.example.com"});
  const std::vector<std::string> v3_mx = {"mx1.example.com", "*.backup.example.com"};
  struct Case {
    const char* name;
    std::vector<VantageOutcome> outcomes;
    bool safe;
    const char* words;  // in the line for mxb.example.com
  };
  const Case cases[] = {
      {"every edge serves version 4", {serving("192.0.2.7", Served::Confirmed, 4, status.confirmed->policy.mx),
                                       serving("192.0.2.8", Served::Confirmed, 4, status.confirmed->policy.mx)},
       true, " (already): confirmed at "},
      {"edge 2 went back to version 3", {serving("192.0.2.7", Served::Confirmed, 4, status.confirmed->policy.mx),
                                         serving("192.0.2.8", Served::Older, 3, v3_mx)},
       false, ": NOT safe now: edge 192.0.2.8 still serves version 3, which does not list it"},
      {"edge 1 does not answer", {serving("192.0.2.7", Served::Error, 0, {}),
                                  serving("192.0.2.8", Served::Confirmed, 4, status.confirmed->policy.mx)},
       false, ": NOT safe now: edge 192.0.2.7: no complete answer within 4 s (timed out), so senders cannot get"},
      {"a wildcard of another version covers the host", {serving("192.0.2.7", Served::Other, 0, {"*.example.com"})},
       true, " (already)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CheckReport report;
    add_safe_to_add_section(report, status, false, 300u, kRotation, kChecked, c.outcomes);
    ASSERT_EQ(report.lines.size(), 2u);
    EXPECT_EQ(report.json["safe_to_add"][1]["pattern"], "mxb.example.com");
    EXPECT_EQ(report.json["safe_to_add"][1]["safe"], c.safe);
    EXPECT_NE(report.lines[1].find(c.words), std::string::npos) << report.lines[1];
    EXPECT_EQ(report.lines[1].find("(already)") != std::string::npos, c.safe) << report.lines[1];
  }
}

TEST(CheckReportStore, AHeldRotationIsAProblem) {
  auto status = confirmed_status();
  CheckReport report;
  add_store_section(report, status, false, "rotation held since 2027-01-15 07:00:00 UTC: edge 192.0.2.8 still serves version 2");
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.lines[0].find("; rotation held since 2027-01-15 07:00:00 UTC: edge 192.0.2.8"), std::string::npos)
      << report.lines[0];
  EXPECT_EQ(report.json["store"]["rotation_held"], report.problems[0]);
  CheckReport fine;
  add_store_section(fine, status, false);
  EXPECT_TRUE(fine.problems.empty());
}

TEST(CheckReportResult, ListsTheProblemsAtTheEnd) {
  CheckReport clean = start_report(kDomain, kChecked, "127.0.0.1:53");
  auto json = finish_report(std::move(clean));
  EXPECT_EQ(json["ok"], true);
  EXPECT_EQ(json["text"], "Check of example.com at 2027-01-15 08:00 UTC through resolver 127.0.0.1:53\n"
                          "Result: no problems found");

  CheckReport troubled = start_report(kDomain, kChecked, "127.0.0.1:53");
  troubled.problems = {"first", "second"};
  json = finish_report(std::move(troubled));
  EXPECT_EQ(json["ok"], false);
  EXPECT_NE(json["text"].get<std::string>().find("Result: 2 problems:\n  - first\n  - second"), std::string::npos);
}

}  // namespace
}  // namespace stsd::confirm
// clang-format on
