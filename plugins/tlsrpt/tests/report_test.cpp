// The report parser (RFC 8460 §4) and the gzip decoder: the RFC's example, refusals that
// name the field, dates, nesting, and zip bombs.
#include <gtest/gtest.h>

#include "report_shapes.h"
#include "tlsrpt/intake.h"
#include "tlsrpt/report.h"

namespace stsd::tlsrpt {
namespace {

using nlohmann::json;
constexpr int64_t kNow = 1796083200;  // 2026-12-01T00:00:00Z
const ReportLimits kLimits;

TEST(Report, ParsesTheRfc8460Example) {
  const Report report = parse_report(test::rfc8460_example(kNow - 86400).dump(), kLimits, kNow);
  EXPECT_EQ(report.organization, "Company-X");
  EXPECT_EQ(report.report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
  EXPECT_EQ(report.start, kNow - 86400);
  EXPECT_EQ(report.end, kNow - 1);
  ASSERT_EQ(report.policies.size(), 1u);
  const PolicyResult& policy = report.policies[0];
  EXPECT_EQ(policy.policy_type, "sts");
  EXPECT_EQ(policy.policy_domain, "company-y.example");
  EXPECT_EQ(policy.mx_host, std::vector<std::string>{"*.mail.company-y.example"});
  EXPECT_EQ(policy.policy_string.size(), 4u);
  EXPECT_EQ(policy.successful, 5326u);
  EXPECT_EQ(policy.failed, 303u);
  ASSERT_EQ(policy.failures.size(), 3u);
  EXPECT_EQ(policy.failures[1].result_type, "starttls-not-supported");
  EXPECT_EQ(policy.failures[1].failed_session_count, 200u);
  EXPECT_EQ(policy.failures[2].failure_reason_code, "X509_V_ERR_PROOF_OF_POSSESSION");
}

struct Refusal {
  const char* name;
  json patch;  // JSON Patch applied to the RFC example
  const char* message;
};

class Refusals : public testing::TestWithParam<Refusal> {};

TEST_P(Refusals, NameTheField) {
  const json report = test::rfc8460_example(kNow - 86400).patch(GetParam().patch);
  try {
    parse_report(report.dump(), kLimits, kNow);
    FAIL() << "accepted";
  } catch (const ReportRefused& refused) {
    EXPECT_EQ(std::string(refused.what()), GetParam().message);
  }
}

json remove(const char* path) { return json::array({{{"op", "remove"}, {"path", path}}}); }
json replace(const char* path, json value) { return json::array({{{"op", "replace"}, {"path", path}, {"value", value}}}); }

INSTANTIATE_TEST_SUITE_P(
    Report, Refusals,
    testing::Values(
        Refusal{"no_organization", remove("/organization-name"), "organization-name: missing"},
        Refusal{"organization_not_text", replace("/organization-name", 7), "organization-name: not a string"},
        Refusal{"no_report_id", remove("/report-id"), "report-id: missing"},
        Refusal{"empty_report_id", replace("/report-id", ""), "report-id: empty"},
        Refusal{"no_contact", remove("/contact-info"), "contact-info: missing"},
        Refusal{"no_date_range", remove("/date-range"), "date-range: missing"},
        Refusal{"no_end", remove("/date-range/end-datetime"), "date-range.end-datetime: missing"},
        Refusal{"bad_start", replace("/date-range/start-datetime", "2026-13-01T00:00:00Z"),
                "date-range.start-datetime: '2026-13-01T00:00:00Z' is not an RFC 3339 date-time (2016-04-01T00:00:00Z)"},
        Refusal{"no_offset", replace("/date-range/start-datetime", "2026-11-30T00:00:00"),
                "date-range.start-datetime: '2026-11-30T00:00:00' has no time offset (Z or +hh:mm)"},
        Refusal{"end_before_start", replace("/date-range/end-datetime", "2026-11-29T00:00:00Z"),
                "date-range.end-datetime: not after start-datetime"},
        Refusal{"too_old", json::array({{{"op", "replace"}, {"path", "/date-range/start-datetime"}, {"value", "2016-04-01T00:00:00Z"}},
                                        {{"op", "replace"}, {"path", "/date-range/end-datetime"}, {"value", "2016-04-01T23:59:59Z"}}}),
                "date-range.start-datetime: 2016-04-01T00:00:00Z is older than the 90 days kept"},
        Refusal{"future", replace("/date-range/end-datetime", "2026-12-20T00:00:00Z"),
                "date-range.end-datetime: 2026-12-20T00:00:00Z is in the future"},
        Refusal{"long_span", replace("/date-range/start-datetime", "2026-10-01T00:00:00Z"),
                "date-range: spans more than 31 days"},
        Refusal{"no_policies", remove("/policies"), "policies: missing"},
        Refusal{"empty_policies", replace("/policies", json::array()), "policies: empty"},
        Refusal{"policy_not_object", replace("/policies/0", "sts"), "policies[0]: not a JSON object"},
        Refusal{"no_failure_total", remove("/policies/0/summary/total-failure-session-count"),
                "policies[0].summary.total-failure-session-count: missing"},
        Refusal{"negative_count", replace("/policies/0/summary/total-successful-session-count", -1),
                "policies[0].summary.total-successful-session-count: not a whole number of sessions (0 or more)"},
        Refusal{"fraction_count", replace("/policies/0/failure-details/1/failed-session-count", 2.5),
                "policies[0].failure-details[1].failed-session-count: not a whole number of sessions (0 or more)"},
        Refusal{"no_result_type", remove("/policies/0/failure-details/2/result-type"),
                "policies[0].failure-details[2].result-type: missing"},
        Refusal{"bad_policy_type", replace("/policies/0/policy/policy-type", "dane"),
                "policies[0].policy.policy-type: 'dane' is none of sts, tlsa, no-policy-found"},
        Refusal{"bad_domain", replace("/policies/0/policy/policy-domain", "not a domain"),
                "policies[0].policy.policy-domain: domain 'not a domain' contains ' ' (only letters, digits, '-' and "
                "'.' are allowed)"},
        Refusal{"policy_string_not_lines", replace("/policies/0/policy/policy-string", json::array({1})),
                "policies[0].policy.policy-string[0]: not a string"}),
    [](const testing::TestParamInfo<Refusal>& info) { return info.param.name; });

TEST(Report, RefusesTextThatIsNoJson) {
  EXPECT_THROW(parse_report("{\"organization-name\": ", kLimits, kNow), ReportRefused);
  try {
    parse_report("[1, 2", kLimits, kNow);
  } catch (const ReportRefused& refused) {
    EXPECT_TRUE(std::string(refused.what()).starts_with("report: not JSON")) << refused.what();
  }
  try {
    parse_report("[]", kLimits, kNow);
  } catch (const ReportRefused& refused) {
    EXPECT_EQ(std::string(refused.what()), "report: not a JSON object");
  }
}

TEST(Report, RefusesDeepNestingBeforeBuildingIt) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    parse_report(deep, kLimits, kNow);
    FAIL() << "accepted";
  } catch (const ReportRefused& refused) {
    EXPECT_EQ(std::string(refused.what()), "report: nested deeper than 12 levels");
  }
}

TEST(Report, ReadsRfc3339Variants) {
  EXPECT_EQ(parse_date_time("2026-11-30T10:00:00Z", "x"), 1796032800);
  EXPECT_EQ(parse_date_time("2026-11-30t10:00:00.123456z", "x"), 1796032800);
  EXPECT_EQ(parse_date_time("2026-11-30T12:00:00+02:00", "x"), 1796032800);
  EXPECT_EQ(parse_date_time("2026-11-30T05:00:00-05:00", "x"), 1796032800);
  EXPECT_THROW(parse_date_time("2026-11-30", "x"), ReportRefused);
  EXPECT_THROW(parse_date_time("2026-11-30T10:00:00.Z", "x"), ReportRefused);
}

TEST(Gzip, RoundTripsAndRefusesBrokenData) {
  const std::string text = test::rfc8460_example(kNow).dump();
  EXPECT_EQ(gunzip(test::gzip(text), 1 << 20), text);
  std::string truncated = test::gzip(text);
  truncated.resize(truncated.size() / 2);
  EXPECT_THROW(gunzip(truncated, 1 << 20), ReportRefused);
  EXPECT_THROW(gunzip("not gzip at all", 1 << 20), ReportRefused);
  EXPECT_THROW(gunzip(test::gzip(text) + "tail", 1 << 20), ReportRefused);
}

TEST(Gzip, StopsAZipBombAtTheCap) {
  // 1 GiB of zeros compresses to about 1 MiB; inflating stops at the cap.
  const std::string bomb = test::gzip(std::string(64 << 20, '\0'));
  EXPECT_LT(bomb.size(), 100u * 1024);
  try {
    gunzip(bomb, 16 << 20);
    FAIL() << "inflated a bomb";
  } catch (const std::length_error& error) {
    EXPECT_EQ(std::string(error.what()), "body: inflates to more than 16777216 octets");
  }
}

}  // namespace
}  // namespace stsd::tlsrpt
