// Policy parser/validator/renderer (RFC 8461 §3.2), mx matching (§4.1), TLS-RPT rua
// (RFC 8460 §3), vantages and domain names.
#include <gtest/gtest.h>

#include "store/errors.h"
#include "store/names.h"
#include "store/policy.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::store {
namespace {

struct ParseCase {
  const char* name;
  std::string text;
  bool ok;
  int error_line;            // -1: any line
  const char* expect;        // substring of the first error (bad) or of a warning (good); "" = none
};
void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.name; }


std::string crlf(std::initializer_list<const char*> lines) {
  std::string out;
  for (auto l : lines) out += std::string(l) + "\r\n";
  return out;
}

const std::vector<ParseCase>& parse_cases() {
  static const std::vector<ParseCase> cases = {
      // --- accepted ---
      {"canonical_crlf", crlf({"version: STSv1", "mode: enforce", "mx: mx1.example.com", "mx: mx2.example.com", "max_age: 604800"}), true, 0, ""},
      {"lf_line_endings", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n", true, 0, ""},
      {"no_final_newline", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800", true, 0, ""},
      {"mode_testing", "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n", true, 0, ""},
      {"mode_none_with_mx", "version: STSv1\nmode: none\nmx: mx.example.com\nmax_age: 86400\n", true, 0, ""},
      {"wildcard_mx", "version: STSv1\nmode: enforce\nmx: *.mail.example.com\nmax_age: 86400\n", true, 0, ""},
      {"no_space_after_colon_warns", "version:STSv1\nmode:enforce\nmx:mx.example.com\nmax_age:86400\n", true, 0, "no space after"},
      {"trailing_whitespace_trimmed", "version: STSv1  \nmode: enforce\t\nmx: mx.example.com \nmax_age: 86400 \n", true, 0, ""},
      {"extension_field_warns", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\nx-note: hello\n", true, 0, "unknown field"},
      {"max_age_at_maximum", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 31557600\n", true, 0, ""},
      {"short_max_age_warns", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 3600\n", true, 0, "under one day"},
      {"zero_max_age_warns", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 0\n", true, 0, "under one day"},
      {"fields_in_any_order_after_version", "version: STSv1\nmx: mx.example.com\nmax_age: 86400\nmode: enforce\n", true, 0, ""},
      {"duplicate_mx_warns", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmx: MX.example.com\nmax_age: 86400\n", true, 0, "listed twice"},
      {"uppercase_mx_accepted", "version: STSv1\nmode: enforce\nmx: MX1.Example.COM\nmax_age: 86400\n", true, 0, ""},
      // --- refused ---
      {"empty", "", false, 0, "empty"},
      {"version_not_first", "mode: enforce\nversion: STSv1\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "first field"},
      {"missing_version", "mode: enforce\nmx: mx.example.com\nmax_age: 86400\n", false, 1, "missing 'version"},
      {"wrong_version", "version: STSv2\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n", false, 1, "STSv1"},
      {"missing_mode", "version: STSv1\nmx: mx.example.com\nmax_age: 86400\n", false, 0, "missing mode"},
      {"mode_uppercase_value", "version: STSv1\nmode: Enforce\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "mode must be"},
      {"unknown_mode", "version: STSv1\nmode: strict\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "mode must be"},
      {"missing_max_age", "version: STSv1\nmode: enforce\nmx: mx.example.com\n", false, 0, "missing max_age"},
      {"max_age_over_limit", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 31557601\n", false, 4, "exceeds"},
      {"max_age_with_unit", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 1w\n", false, 4, "number of seconds"},
      {"max_age_eleven_digits", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 00000086400\n", false, 4, "1 to 10 digits"},
      {"max_age_negative", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: -1\n", false, 4, "number of seconds"},
      {"enforce_without_mx", "version: STSv1\nmode: enforce\nmax_age: 86400\n", false, 0, "at least one mx"},
      {"testing_without_mx", "version: STSv1\nmode: testing\nmax_age: 86400\n", false, 0, "at least one mx"},
      {"none_without_mx", "version: STSv1\nmode: none\nmax_age: 86400\n", false, 0, "mode none still needs"},
      {"mx_ipv4_address", "version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 86400\n", false, 3, "IP address"},
      {"mx_ipv6_address", "version: STSv1\nmode: enforce\nmx: 2001:db8::1\nmax_age: 86400\n", false, 3, "IP address"},
      {"mx_double_wildcard", "version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 86400\n", false, 3, "wildcard"},
      {"mx_partial_wildcard", "version: STSv1\nmode: enforce\nmx: mail*.example.com\nmax_age: 86400\n", false, 3, "wildcard"},
      {"mx_trailing_dot", "version: STSv1\nmode: enforce\nmx: mx.example.com.\nmax_age: 86400\n", false, 3, "end with a dot"},
      {"mx_single_label", "version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 86400\n", false, 3, "fully qualified"},
      {"mx_underscore", "version: STSv1\nmode: enforce\nmx: mx_1.example.com\nmax_age: 86400\n", false, 3, "contains '_'"},
      {"mx_empty_label", "version: STSv1\nmode: enforce\nmx: mx..example.com\nmax_age: 86400\n", false, 3, "empty label"},
      {"blank_line", "version: STSv1\nmode: enforce\n\nmx: mx.example.com\nmax_age: 86400\n", false, 3, "blank line"},
      {"trailing_blank_line", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n\n", false, 5, "blank line"},
      {"space_before_colon", "version: STSv1\nmode : enforce\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "whitespace around"},
      {"leading_space_before_key", "version: STSv1\n mode: enforce\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "whitespace around"},
      {"line_without_colon", "version: STSv1\nmode enforce\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "key: value"},
      {"duplicate_mode", "version: STSv1\nmode: enforce\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n", false, 3, "duplicate mode"},
      {"duplicate_max_age", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\nmax_age: 600\n", false, 5, "duplicate max_age"},
      {"duplicate_version", "version: STSv1\nversion: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "duplicate version"},
      {"non_ascii_mx", "version: STSv1\nmode: enforce\nmx: m\xc3\xa4il.example.com\nmax_age: 86400\n", false, 3, "non-ASCII"},
      {"case_sensitive_field_name", "version: STSv1\nMode: enforce\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "case-sensitive"},
      {"stray_carriage_return", "version: STSv1\nmode: enf\rorce\nmx: mx.example.com\nmax_age: 86400\n", false, 2, "carriage return"},
      {"invalid_field_name", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n-x: y\n", false, 5, "invalid field name"},
      {"oversized_policy", "version: STSv1\nmode: enforce\n" + std::string(70000, 'a') + "\n", false, 0, "64 KiB"},
  };
  return cases;
}

class ParsePolicy : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParsePolicy, AcceptsOrRefusesWithTheRightLine) {
  const auto& c = GetParam();
  const auto parsed = parse_policy(c.text);
  if (c.ok) {
    ASSERT_TRUE(parsed.errors.empty()) << parsed.errors.front().message;
    ASSERT_TRUE(parsed.policy.has_value());
    if (*c.expect) {
      bool found = false;
      for (const auto& w : parsed.warnings) found |= w.message.find(c.expect) != std::string::npos;
      EXPECT_TRUE(found) << "expected a warning containing '" << c.expect << "'";
    }
    // Whatever was accepted renders to a canonical form that parses back to the same policy
    // without warnings other than a short max_age.
    const auto again = parse_policy(render_policy(*parsed.policy));
    ASSERT_TRUE(again.policy.has_value());
    EXPECT_TRUE(same_policy(*again.policy, *parsed.policy));
  } else {
    ASSERT_FALSE(parsed.errors.empty()) << "expected an error";
    EXPECT_FALSE(parsed.policy.has_value());
    bool found = false;
    for (const auto& e : parsed.errors) {
      if (e.message.find(c.expect) == std::string::npos) continue;
      found = true;
      if (c.error_line >= 0) {
        EXPECT_EQ(e.line, c.error_line) << e.message;
      }
    }
    EXPECT_TRUE(found) << "no error containing '" << c.expect << "'; first: " << parsed.errors.front().message;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ParsePolicy, ::testing::ValuesIn(parse_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ParsePolicy, TableHasAtLeastThirtyCases) { EXPECT_GE(parse_cases().size(), 30u); }

TEST(ParsePolicy, ReadsTheFields) {
  const auto parsed = parse_policy(crlf({"version: STSv1", "mode: testing", "mx: MX1.example.com", "mx: *.mail.example.com", "max_age: 1209600"}));
  ASSERT_TRUE(parsed.policy);
  EXPECT_EQ(parsed.policy->mode, Mode::Testing);
  EXPECT_EQ(parsed.policy->max_age, 1209600u);
  EXPECT_EQ(parsed.policy->mx, (std::vector<std::string>{"mx1.example.com", "*.mail.example.com"}));
}

TEST(RenderPolicy, CanonicalFormEverySenderAccepts) {
  Policy p{Mode::Enforce, {"mx1.example.com", "*.mail.example.com"}, 604800};
  EXPECT_EQ(render_policy(p),
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.com\r\nmax_age: 604800\r\n");
}

TEST(RenderPolicy, ModeNoneKeepsAnMxLine) {
  Policy p{Mode::None, {"mx.example.com"}, 86400};
  EXPECT_EQ(render_policy(p), "version: STSv1\r\nmode: none\r\nmx: mx.example.com\r\nmax_age: 86400\r\n");
}

TEST(RenderPolicy, DuplicatesAndCaseAreNormalized) {
  Policy p{Mode::Enforce, {"MX.example.com", "mx.example.com"}, 86400};
  EXPECT_EQ(render_policy(p), "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n");
}

TEST(PolicyErrors, ValidatesFieldBuiltPolicies) {
  EXPECT_TRUE(policy_errors(Policy{Mode::Enforce, {"mx.example.com"}, 86400}).empty());
  EXPECT_FALSE(policy_errors(Policy{Mode::Enforce, {}, 86400}).empty());
  EXPECT_FALSE(policy_errors(Policy{Mode::None, {}, 86400}).empty());
  EXPECT_FALSE(policy_errors(Policy{Mode::Enforce, {"10.0.0.1"}, 86400}).empty());
  EXPECT_FALSE(policy_errors(Policy{Mode::Enforce, {"mx.example.com"}, kMaxMaxAge + 1}).empty());
}

TEST(PolicyWarnings, LoweringMaxAgeAgainstConfirmed) {
  Policy confirmed{Mode::Enforce, {"mx.example.com"}, 604800};
  Policy lower{Mode::Enforce, {"mx.example.com"}, 172800};
  auto warnings = policy_warnings(lower, &confirmed);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].message.find("lowered from 604800"), std::string::npos);
  EXPECT_TRUE(policy_warnings(confirmed, &confirmed).empty());
}

TEST(PolicyDigest, DependsOnContentOnly) {
  Policy a{Mode::Enforce, {"mx.example.com"}, 86400};
  Policy b{Mode::Enforce, {"MX.example.com"}, 86400};
  Policy c{Mode::Testing, {"mx.example.com"}, 86400};
  EXPECT_EQ(policy_digest(a), policy_digest(b));
  EXPECT_NE(policy_digest(a), policy_digest(c));
  EXPECT_EQ(policy_digest(a).size(), 64u);
}

TEST(SamePolicy, IsSemantic) {
  Policy a{Mode::Enforce, {"a.example.com", "b.example.com"}, 86400};
  Policy b{Mode::Enforce, {"B.example.com", "a.example.com", "a.example.com"}, 86400};
  EXPECT_TRUE(same_policy(a, b));
  b.max_age = 86401;
  EXPECT_FALSE(same_policy(a, b));
  Policy c{Mode::Testing, a.mx, 86400};
  EXPECT_FALSE(same_policy(a, c));
  Policy d{Mode::Enforce, {"a.example.com"}, 86400};
  EXPECT_FALSE(same_policy(a, d));
}

struct MatchCase {
  const char* pattern;
  const char* host;
  bool matches;
};
void PrintTo(const MatchCase& c, std::ostream* os) { *os << c.pattern << " vs " << c.host; }


class MxPatternMatches : public ::testing::TestWithParam<MatchCase> {};
TEST_P(MxPatternMatches, OneLabelWildcard) {
  const auto& c = GetParam();
  EXPECT_EQ(mx_pattern_matches(c.pattern, c.host), c.matches) << c.pattern << " vs " << c.host;
}
INSTANTIATE_TEST_SUITE_P(Table, MxPatternMatches,
                         ::testing::Values(MatchCase{"mx.example.com", "mx.example.com", true},
                                           MatchCase{"mx.example.com", "MX.Example.com.", true},
                                           MatchCase{"mx.example.com", "mx2.example.com", false},
                                           MatchCase{"*.example.com", "mx.example.com", true},
                                           MatchCase{"*.example.com", "MX.EXAMPLE.COM.", true},
                                           MatchCase{"*.example.com", "example.com", false},
                                           MatchCase{"*.example.com", "a.b.example.com", false},
                                           MatchCase{"*.example.com", ".example.com", false},
                                           MatchCase{"*.example.com", "mx.example.net", false}));

struct RuaCase {
  const char* uri;
  bool ok;
  const char* expect;
};
void PrintTo(const RuaCase& c, std::ostream* os) { *os << c.uri; }

class TlsRptRua : public ::testing::TestWithParam<RuaCase> {};
TEST_P(TlsRptRua, MailtoOrHttpsOnly) {
  const auto& c = GetParam();
  const auto error = tlsrpt_rua_error(c.uri);
  if (c.ok) {
    EXPECT_EQ(error, "") << c.uri;
  } else {
    EXPECT_NE(error.find(c.expect), std::string::npos) << c.uri << " -> " << error;
  }
}
INSTANTIATE_TEST_SUITE_P(
    Table, TlsRptRua,
    ::testing::Values(RuaCase{"mailto:tls-reports@example.com", true, ""}, RuaCase{"MAILTO:tls@example.com", true, ""},
                      RuaCase{"mailto:tls@example.com?subject=tlsrpt", true, ""},
                      RuaCase{"https://reports.example.com/tlsrpt", true, ""},
                      RuaCase{"https://reports.example.com:8443/v1/tlsrpt", true, ""},
                      RuaCase{"http://reports.example.com/", false, "mailto: or https:"},
                      RuaCase{"ftp://reports.example.com/", false, "mailto: or https:"},
                      RuaCase{"", false, "mailto: or https:"},
                      RuaCase{"mailto:reports.example.com", false, "needs an address"},
                      RuaCase{"mailto:@example.com", false, "needs an address"},
                      RuaCase{"mailto:tls@", false, "needs an address"},
                      RuaCase{"mailto:tls@localhost", false, "mail domain"},
                      RuaCase{"https://", false, "host"},
                      RuaCase{"https://user@reports.example.com/", false, "credentials"},
                      RuaCase{"https://reports.example.com:0/", false, "bad port"},
                      RuaCase{"mailto:a@example.com,mailto:b@example.com", false, "percent-encode"},
                      RuaCase{"mailto:a@example.com;x", false, "percent-encode"},
                      RuaCase{"mailto:a b@example.com", false, "space"},
                      RuaCase{"mailto:t\xc3\xa4@example.com", false, "non-ASCII"}));

TEST(TlsRptRecord, JoinsUrisWithCommas) {
  EXPECT_EQ(tlsrpt_record({}), "");
  EXPECT_EQ(tlsrpt_record({"mailto:a@example.com"}), "v=TLSRPTv1; rua=mailto:a@example.com");
  EXPECT_EQ(tlsrpt_record({"mailto:a@example.com", "https://r.example.com/x"}),
            "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x");
}

TEST(Vantage, AddressesWithOptionalPort) {
  for (const char* good : {"192.0.2.7", "192.0.2.7:443", "2001:db8::7", "[2001:db8::7]:8443", "[::1]", "[192.0.2.7]:443"})
    EXPECT_EQ(vantage_error(good), "") << good;
  for (const char* bad : {"edge.example.com", "192.0.2.7:0", "192.0.2.7:70000", "[2001:db8::7", "[::1]8443", "300.1.1.1", ""})
    EXPECT_NE(vantage_error(bad), "") << bad;
}

TEST(NormalizeDomain, LowercasesAndRefusesNonHostNames) {
  EXPECT_EQ(normalize_domain("Example.COM."), "example.com");
  EXPECT_EQ(normalize_domain("xn--bcher-kva.example"), "xn--bcher-kva.example");
  for (const char* bad : {"", "com", "192.0.2.1", "exa mple.com", "-a.example.com", "a..example.com", "b\xc3\xbc" "cher.de",
                          "_mta-sts.example.com"})
    EXPECT_THROW(normalize_domain(bad), PolicyError) << bad;
  EXPECT_THROW(normalize_domain(std::string(64, 'a') + ".com"), PolicyError);
  try {
    normalize_domain("exa mple.com");
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find("exa mple.com"), std::string::npos) << "the message names the domain";
  }
}

}  // namespace
}  // namespace stsd::store
// clang-format on
