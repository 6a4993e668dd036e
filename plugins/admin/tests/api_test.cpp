// The admin API's routes against a real store (RocksDB in a temporary folder): the
// documented workflow, and bad input that is refused with a message naming the field and
// changes nothing.
#include <gtest/gtest.h>

#include "api_fixture.h"

namespace stsd::admin {
namespace {

using nlohmann::json;

TEST_F(Api, AddStageConfirmMovesTheServedId) {
  auto added = call("POST", "/v1/domains", {{"domain", "Example.COM."}, {"tlsrpt_rua", {"mailto:tls@example.com"}}});
  ASSERT_EQ(added.status, 201u) << added.body;
  EXPECT_EQ(added.body["domain"], "example.com");
  EXPECT_EQ(added.body["settings"]["tlsrpt_record"], "v=TLSRPTv1; rua=mailto:tls@example.com");

  auto status = call("GET", "/v1/domains/example.com/status");
  ASSERT_EQ(status.status, 200u);
  EXPECT_TRUE(status.body["served_id"].is_null());
  EXPECT_TRUE(status.body["staged"].is_null());

  auto staged = call("POST", "/v1/domains/example.com/policies",
                     {{"mode", "enforce"}, {"mx", {"mx1.example.com", "*.mail.example.com"}}, {"max_age", 604800}});
  ASSERT_EQ(staged.status, 201u) << staged.body;
  EXPECT_EQ(staged.body["version"], 1);
  EXPECT_EQ(staged.body["created"], true);
  EXPECT_TRUE(staged.body["confirmed_version"].is_null());

  // Staging never moves the id (RFC 8461 §3.1: only a served policy may get a new id).
  status = call("GET", "/v1/domains/example.com/status");
  EXPECT_TRUE(status.body["served_id"].is_null());
  EXPECT_EQ(status.body["pending"], true);
  EXPECT_EQ(status.body["staged"]["version"], 1);

  auto confirmed =
      call("POST", "/v1/domains/example.com/confirm", {{"version", 1}, {"reason", "deployed to all edges"}});
  ASSERT_EQ(confirmed.status, 200u) << confirmed.body;
  ASSERT_TRUE(confirmed.body["served_id"].is_string());
  const std::string id = confirmed.body["served_id"];
  EXPECT_EQ(confirmed.body["txt"], "v=STSv1; id=" + id + ";");
  EXPECT_EQ(confirmed.body["confirmation"]["manual"], true);
  EXPECT_EQ(confirmed.body["confirmation"]["reason"], "deployed to all edges");
  EXPECT_EQ(confirmed.body["next_rotation"], "2025-01-01T17:40:06Z") << "example.com's own offset";
  EXPECT_EQ(confirmed.body["rotation_offset_seconds"], 63606);
  EXPECT_EQ(confirmed.body["events"][0]["kind"], "manual_confirm");

  auto shown = call("GET", "/v1/domains/example.com/policy");
  ASSERT_EQ(shown.status, 200u);
  EXPECT_EQ(shown.body["which"], "confirmed");
  EXPECT_EQ(shown.body["text"],
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.com\r\nmax_age: 604800\r\n");

  auto listed = call("GET", "/v1/domains");
  ASSERT_EQ(listed.status, 200u);
  ASSERT_EQ(listed.body["domains"].size(), 1u);
  EXPECT_EQ(listed.body["domains"][0],
            (json{{"domain", "example.com"}, {"staged", 1}, {"confirmed", 1}, {"pending", false}, {"held", false}}));
  EXPECT_TRUE(listed.body["next_after"].is_null());
}

TEST_F(Api, StagingTheSamePolicyAgainCreatesNoVersion) {
  add_staged_confirmed("example.com");
  auto again = call("POST", "/v1/domains/example.com/policies",
                    {{"mode", "enforce"}, {"mx", {"MX1.example.com"}}, {"max_age", 604800}});
  EXPECT_EQ(again.status, 200u);
  EXPECT_EQ(again.body["created"], false);
  EXPECT_EQ(again.body["version"], 1);
}

TEST_F(Api, PolicyTextIsParsedWithLineNumbersAndWarnings) {
  ASSERT_EQ(call("POST", "/v1/domains", {{"domain", "example.com"}}).status, 201u);
  auto staged = call("POST", "/v1/domains/example.com/policies",
                     {{"text", "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 3600\n"}});
  ASSERT_EQ(staged.status, 201u) << staged.body;
  ASSERT_FALSE(staged.body["warnings"].empty());  // max_age below a day
  auto bad = call("POST", "/v1/domains/example.com/policies", {{"text", "version: STSv1\nmode: sometimes\n"}});
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.body["error"].get<std::string>().find("line 2"), std::string::npos) << bad.body;
  EXPECT_EQ(bad.body["field"], "text");
}

TEST_F(Api, ShowsAnyVersionAndTheNewestStagedWhenNothingIsConfirmed) {
  ASSERT_EQ(call("POST", "/v1/domains", {{"domain", "example.com"}}).status, 201u);
  call("POST", "/v1/domains/example.com/policies",
       {{"mode", "testing"}, {"mx", {"a.example.com"}}, {"max_age", 86400}});
  call("POST", "/v1/domains/example.com/policies",
       {{"mode", "enforce"}, {"mx", {"b.example.com"}}, {"max_age", 86400}});
  auto shown = call("GET", "/v1/domains/example.com/policy");
  EXPECT_EQ(shown.body["which"], "staged");
  EXPECT_EQ(shown.body["version"], 2);
  auto first = call("GET", "/v1/domains/example.com/policies/1");
  ASSERT_EQ(first.status, 200u);
  EXPECT_EQ(first.body["mode"], "testing");
  EXPECT_EQ(call("GET", "/v1/domains/example.com/policies/3").status, 404u);
}

TEST_F(Api, SettingsChangeOnlyWhatIsGiven) {
  ASSERT_EQ(call("POST", "/v1/domains", {{"domain", "example.com"}, {"vantages", {"192.0.2.7"}}}).status, 201u);
  auto updated = call("PUT", "/v1/domains/example.com/settings", {{"tlsrpt_rua", {"https://r.example.net/tls"}}});
  ASSERT_EQ(updated.status, 200u) << updated.body;
  EXPECT_EQ(updated.body["settings"]["vantages"], json({"192.0.2.7"}));
  EXPECT_EQ(updated.body["settings"]["tlsrpt_rua"], json({"https://r.example.net/tls"}));
}

TEST_F(Api, RemoveDomain) {
  ASSERT_EQ(call("POST", "/v1/domains", {{"domain", "example.com"}}).status, 201u);
  auto removed = call("DELETE", "/v1/domains/example.com");
  EXPECT_EQ(removed.status, 200u) << removed.body;
  EXPECT_EQ(removed.body, (json{{"removed", "example.com"}, {"forced", false}}));
  EXPECT_EQ(call("GET", "/v1/domains/example.com/status").status, 404u);
  EXPECT_FALSE(state_->has_domain("example.com"));
}

TEST_F(Api, RemovingAnEnforcedDomainNeedsForceAndPointsToRetire) {
  add_staged_confirmed("example.com");
  auto refused = call("DELETE", "/v1/domains/example.com");
  EXPECT_EQ(refused.status, 409u);
  const std::string message = refused.body["error"];
  EXPECT_NE(message.find("is published: senders that fetched it keep applying it"), std::string::npos) << message;
  EXPECT_NE(message.find("stsctl domain retire example.com, or stsctl domain remove example.com --force"),
            std::string::npos)
      << message;
  EXPECT_TRUE(state_->has_domain("example.com"));
  EXPECT_EQ(call("DELETE", "/v1/domains/example.com?force=maybe").status, 400u);
  auto forced = call("DELETE", "/v1/domains/example.com?force=true");
  EXPECT_EQ(forced.status, 200u) << forced.body;
  EXPECT_EQ(forced.body["forced"], true);
  EXPECT_FALSE(state_->has_domain("example.com"));
  EXPECT_EQ(state_->events("example.com", 1).front().detail.rfind("forced: its confirmed policy", 0), 0u);
}

TEST_F(Api, RetireStagesANonePolicyAndStatusShowsWhenTheRecordsGo) {
  add_staged_confirmed("example.com");
  auto retired = call("POST", "/v1/domains/example.com/retirement", {{"reason", "customer left"}});
  ASSERT_EQ(retired.status, 201u) << retired.body;
  EXPECT_EQ(retired.body["staged"]["version"], 2);
  EXPECT_EQ(retired.body["staged"]["mode"], "none");
  EXPECT_EQ(retired.body["staged"]["mx"], json({"mx1.example.com"}));
  EXPECT_EQ(retired.body["retirement"], (json{{"since", "2025-01-01T12:00:00Z"},
                                              {"reason", "customer left"},
                                              {"version", 2},
                                              {"state", "waiting_for_confirmation"},
                                              {"remove_at", nullptr},
                                              {"longest_cached", nullptr}}));
  EXPECT_EQ(retired.body["events"][0]["kind"], "retiring");
  EXPECT_EQ(call("POST", "/v1/domains/example.com/retirement").status, 409u) << "already retiring";

  auto refused = call("DELETE", "/v1/domains/example.com");
  EXPECT_EQ(refused.status, 409u);
  EXPECT_EQ(refused.body["error"].get<std::string>().find("stsctl domain retire"), std::string::npos)
      << "it is being retired already";

  clock_->advance(std::chrono::hours(1));
  auto confirmed = call("POST", "/v1/domains/example.com/confirm", {{"version", 2}, {"reason", "served"}});
  ASSERT_EQ(confirmed.status, 200u) << confirmed.body;
  EXPECT_EQ(confirmed.body["retirement"]["state"], "scheduled");
  // Version 1 (a week) was served until version 2's confirmation, an hour later.
  EXPECT_EQ(confirmed.body["retirement"]["remove_at"], "2025-01-08T13:00:00Z");
  EXPECT_EQ(confirmed.body["retirement"]["longest_cached"],
            (json{{"version", 1}, {"max_age", 604800}, {"served_until", "2025-01-01T13:00:00Z"}}));

  auto cancelled = call("DELETE", "/v1/domains/example.com/retirement");
  ASSERT_EQ(cancelled.status, 200u) << cancelled.body;
  EXPECT_TRUE(cancelled.body["retirement"].is_null());
  EXPECT_EQ(call("DELETE", "/v1/domains/example.com/retirement").status, 409u);
  EXPECT_EQ(call("POST", "/v1/domains/example.com/retirement", {{"why", "x"}}).status, 400u);
}

TEST_F(Api, ListPagesThroughEveryDomainInOrder) {
  for (int i = 0; i < 25; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "d%02d.example", i);
    ASSERT_EQ(call("POST", "/v1/domains", {{"domain", name}}).status, 201u);
  }
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    auto listed = call("GET", "/v1/domains?limit=10" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(listed.status, 200u);
    for (const auto& d : listed.body["domains"]) seen.push_back(d["domain"]);
    if (listed.body["next_after"].is_null()) break;
    after = listed.body["next_after"];
  }
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.front(), "d00.example");
  EXPECT_EQ(seen.back(), "d24.example");
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST_F(Api, ImportAddsStagesAndConfirmsAndIsIdempotent) {
  json rows = json::array();
  for (int i = 0; i < 3; ++i) {
    rows.push_back({{"line", i + 2},
                    {"domain", "d" + std::to_string(i) + ".example"},
                    {"mode", "enforce"},
                    {"mx", {"mx.d" + std::to_string(i) + ".example"}},
                    {"max_age", 604800},
                    {"tlsrpt_rua", {"mailto:tls@example.net"}}});
  }
  auto checked = call("POST", "/v1/import", {{"rows", rows}, {"dry_run", true}});
  ASSERT_EQ(checked.status, 200u) << checked.body;
  EXPECT_TRUE(checked.body["errors"].empty());
  EXPECT_EQ(state_->domain_count(), 0u);  // a dry run writes nothing

  auto imported = call("POST", "/v1/import", {{"rows", rows}, {"confirm", true}, {"reason", "migrated"}});
  ASSERT_EQ(imported.status, 200u) << imported.body;
  ASSERT_EQ(imported.body["results"].size(), 3u);
  EXPECT_EQ(imported.body["results"][1]["line"], 3);
  EXPECT_EQ(imported.body["results"][1]["added"], true);
  EXPECT_EQ(imported.body["results"][1]["staged"], true);
  EXPECT_EQ(imported.body["results"][1]["confirmed"], true);
  auto status = call("GET", "/v1/domains/d1.example/status");
  EXPECT_TRUE(status.body["served_id"].is_string());
  EXPECT_EQ(status.body["settings"]["tlsrpt_rua"], json({"mailto:tls@example.net"}));

  auto again = call("POST", "/v1/import", {{"rows", rows}});
  ASSERT_EQ(again.status, 200u);
  EXPECT_EQ(again.body["results"][0]["staged"], false);
  EXPECT_EQ(again.body["results"][0]["added"], false);
}

TEST_F(Api, ImportKeepsTheVantagesOfAnExistingDomain) {
  ASSERT_EQ(call("POST", "/v1/domains", {{"domain", "example.com"}, {"vantages", {"192.0.2.7"}}}).status, 201u);
  json row = {{"domain", "example.com"},
              {"mode", "none"},
              {"mx", {"mx.example.com"}},
              {"max_age", 86400},
              {"tlsrpt_rua", {"mailto:t@example.com"}}};
  ASSERT_EQ(call("POST", "/v1/import", {{"rows", {row}}}).status, 200u);
  auto settings = call("GET", "/v1/domains/example.com/settings");
  EXPECT_EQ(settings.body["settings"]["vantages"], json({"192.0.2.7"}));
  EXPECT_EQ(settings.body["settings"]["tlsrpt_rua"], json({"mailto:t@example.com"}));
}

TEST_F(Api, ImportWithABadRowReportsEveryBadLineAndWritesNothing) {
  json rows = {
      {{"line", 2}, {"domain", "good.example"}, {"mode", "enforce"}, {"mx", {"mx.good.example"}}, {"max_age", 86400}},
      {{"line", 3}, {"domain", "bad.example"}, {"mode", "enforced"}, {"mx", {"mx.bad.example"}}, {"max_age", 86400}},
      {{"line", 4}, {"domain", "ip.example"}, {"mode", "enforce"}, {"mx", {"192.0.2.1"}}, {"max_age", 86400}},
      {{"line", 5}, {"domain", "bad..example"}, {"mode", "none"}, {"mx", json::array()}, {"max_age", 86400}},
  };
  auto checked = call("POST", "/v1/import", {{"rows", rows}, {"dry_run", true}});
  ASSERT_EQ(checked.status, 200u);
  ASSERT_EQ(checked.body["errors"].size(), 3u) << checked.body;
  EXPECT_EQ(checked.body["errors"][0]["line"], 3);
  EXPECT_NE(checked.body["errors"][0]["error"].get<std::string>().find("line 3: field 'mode'"), std::string::npos)
      << checked.body;
  EXPECT_EQ(checked.body["errors"][1]["line"], 4);
  EXPECT_EQ(checked.body["errors"][2]["line"], 5);

  const uint64_t before = state_->generation();
  auto refused = call("POST", "/v1/import", {{"rows", rows}});
  EXPECT_EQ(refused.status, 400u);
  EXPECT_EQ(refused.body["errors"].size(), 3u);
  EXPECT_EQ(state_->generation(), before);
  EXPECT_FALSE(state_->has_domain("good.example"));
}

// The dry run runs the store's checks of the import, not a subset: room for the names
// served under a new domain, at most 16 rua, one row per domain. Both it and the import
// name the same lines, and the import applies none of the request's rows.
TEST_F(Api, DryRunAndImportRefuseEveryRowTheStoreRefuses) {
  state_->require_name_room(11 + 19, "_smtp._tls.<domain>.sts.provider.test. must fit in 255 octets");
  const std::string long_domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                                  "." + std::string(30, 'd') + ".example";
  json seventeen = json::array();
  for (char c = 'a'; c <= 'q'; ++c) seventeen.push_back(std::string("mailto:") + c + "@a.io");
  auto row = [](int line, const std::string& domain) {
    return json{{"line", line}, {"domain", domain}, {"mode", "enforce"}, {"mx", {"mx." + domain}}, {"max_age", 86400}};
  };
  json rows = {row(2, "good.example"), row(3, long_domain), row(4, "rua.example"), row(5, "good.example"),
               row(6, "also-good.example")};
  rows[2]["tlsrpt_rua"] = seventeen;
  const uint64_t before = state_->generation();
  auto checked = call("POST", "/v1/import", {{"rows", rows}, {"dry_run", true}});
  ASSERT_EQ(checked.status, 200u) << checked.body;
  auto refused = call("POST", "/v1/import", {{"rows", rows}});
  ASSERT_EQ(refused.status, 400u) << refused.body;
  for (const json& errors : {checked.body["errors"], refused.body["errors"]}) {
    ASSERT_EQ(errors.size(), 3u) << errors;
    EXPECT_EQ(errors[0]["line"], 3);
    EXPECT_EQ(errors[0]["error"].get<std::string>().rfind("line 3: ", 0), 0u) << errors;
    EXPECT_NE(errors[0]["error"].get<std::string>().find("too long"), std::string::npos) << errors;
    EXPECT_EQ(errors[1]["line"], 4);
    EXPECT_NE(errors[1]["error"].get<std::string>().find("at most 16"), std::string::npos) << errors;
    EXPECT_EQ(errors[2]["line"], 5);
    EXPECT_NE(errors[2]["error"].get<std::string>().find("twice"), std::string::npos) << errors;
  }
  EXPECT_NE(refused.body["error"].get<std::string>().find("nothing in this request was applied"), std::string::npos);
  EXPECT_EQ(state_->generation(), before);
  EXPECT_EQ(state_->domain_count(), 0u);
}

struct BadCase {
  const char* name;
  std::string method;
  std::string target;
  std::string body;
  unsigned status;
  std::string error_part;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadInput : public Api, public testing::WithParamInterface<BadCase> {};

TEST_P(BadInput, IsRefusedWithAMessageAndChangesNothing) {
  add_staged_confirmed("example.com");
  const auto before_status = call("GET", "/v1/domains/example.com/status?events=100").body;
  const uint64_t before_generation = state_->generation();
  const auto& c = GetParam();
  auto response = raw(c.method, c.target, c.body);
  EXPECT_EQ(response.status, c.status) << response.body;
  ASSERT_TRUE(response.body["error"].is_string()) << response.body;
  EXPECT_NE(response.body["error"].get<std::string>().find(c.error_part), std::string::npos)
      << "error: " << response.body["error"] << "\nexpected to contain: " << c.error_part;
  EXPECT_EQ(state_->generation(), before_generation);
  EXPECT_EQ(call("GET", "/v1/domains/example.com/status?events=100").body, before_status);
}

const BadCase kBadCases[] = {
    BadCase{"body_not_json", "POST", "/v1/domains", "{domain: x}", 400, "not valid JSON"},
    BadCase{"body_not_object", "POST", "/v1/domains", "[\"example.org\"]", 400, "must be a JSON object"},
    BadCase{"body_missing", "POST", "/v1/domains", "", 400, "needs a JSON object body"},
    BadCase{"deeply_nested_body", "POST", "/v1/domains", std::string(100000, '['), 400, "nests deeper"},
    BadCase{"unknown_field", "POST", "/v1/domains", R"({"domain":"example.org","rua":["x"]})", 400,
            "field 'rua': unknown field"},
    BadCase{"domain_missing", "POST", "/v1/domains", R"({"tlsrpt_rua":[]})", 400, "field 'domain': is required"},
    BadCase{"domain_wrong_type", "POST", "/v1/domains", R"({"domain":42})", 400, "field 'domain': must be a string"},
    BadCase{"domain_invalid", "POST", "/v1/domains", R"({"domain":"exa mple.org"})", 400, "exa mple.org"},
    BadCase{"domain_is_ip", "POST", "/v1/domains", R"({"domain":"192.0.2.1"})", 400, "IP address"},
    BadCase{"domain_exists", "POST", "/v1/domains", R"({"domain":"EXAMPLE.com"})", 409, "already in the store"},
    BadCase{"rua_bad_scheme", "POST", "/v1/domains", R"({"domain":"example.org","tlsrpt_rua":["ftp://x.example"]})",
            400, "field 'tlsrpt_rua': 'ftp://x.example'"},
    BadCase{"vantage_bad", "POST", "/v1/domains", R"({"domain":"example.org","vantages":["not an address"]})", 400,
            "field 'vantages'"},
    BadCase{"stage_unknown_domain", "POST", "/v1/domains/other.example/policies",
            R"({"mode":"enforce","mx":["mx.other.example"],"max_age":86400})", 404, "not in the store"},
    BadCase{"stage_bad_mode", "POST", "/v1/domains/example.com/policies",
            R"({"mode":"enforced","mx":["mx.example.com"],"max_age":86400})", 400,
            "field 'mode': 'enforced' is not enforce, testing or none"},
    BadCase{"stage_max_age_too_big", "POST", "/v1/domains/example.com/policies",
            R"({"mode":"enforce","mx":["mx.example.com"],"max_age":31557601})", 400, "field 'max_age': 31557601"},
    BadCase{"stage_max_age_negative", "POST", "/v1/domains/example.com/policies",
            R"({"mode":"enforce","mx":["mx.example.com"],"max_age":-1})", 400,
            "field 'max_age': must be a whole number"},
    BadCase{"stage_max_age_huge", "POST", "/v1/domains/example.com/policies",
            R"({"mode":"enforce","mx":["mx.example.com"],"max_age":18446744073709551615})", 400, "field 'max_age'"},
    BadCase{"stage_mx_ip", "POST", "/v1/domains/example.com/policies",
            R"({"mode":"enforce","mx":["192.0.2.25"],"max_age":86400})", 400, "field 'mx': '192.0.2.25'"},
    BadCase{"stage_mx_two_label_wildcard", "POST", "/v1/domains/example.com/policies",
            R"({"mode":"enforce","mx":["*.*.example.com"],"max_age":86400})", 400, "field 'mx'"},
    BadCase{"stage_enforce_without_mx", "POST", "/v1/domains/example.com/policies",
            R"({"mode":"enforce","max_age":86400})", 400, "mx"},
    BadCase{"stage_text_and_fields", "POST", "/v1/domains/example.com/policies",
            R"({"text":"version: STSv1\n","mode":"enforce"})", 400, "either the policy text or mode"},
    BadCase{"stage_text_invalid", "POST", "/v1/domains/example.com/policies",
            R"({"text":"mode: enforce\nversion: STSv1\n"})", 400, "line 2: version must be the first field"},
    BadCase{"confirm_missing_reason", "POST", "/v1/domains/example.com/confirm", R"({"version":1})", 400,
            "field 'reason': is required"},
    BadCase{"confirm_blank_reason", "POST", "/v1/domains/example.com/confirm", R"({"version":1,"reason":"  "})", 400,
            "field 'reason': is empty"},
    BadCase{"confirm_missing_version", "POST", "/v1/domains/example.com/confirm", R"({"version":7,"reason":"x"})", 404,
            "has no version 7"},
    BadCase{"confirm_version_text", "POST", "/v1/domains/example.com/confirm", R"({"version":"1","reason":"x"})", 400,
            "field 'version': must be a whole number"},
    BadCase{"unknown_endpoint", "GET", "/v2/domains", "", 404, "no such endpoint"},
    BadCase{"unknown_resource", "GET", "/v1/domains/example.com/frobs", "", 404, "no such endpoint"},
    BadCase{"wrong_method", "PATCH", "/v1/domains", "", 405, "PATCH is not allowed"},
    BadCase{"wrong_method_unknown_domain", "PUT", "/v1/domains/other.example/status", "{}", 405, "(allowed: GET)"},
    BadCase{"unknown_resource_unknown_domain", "GET", "/v1/domains/other.example/frobs", "", 404, "no such endpoint"},
    BadCase{"body_on_get", "GET", "/v1/domains/example.com/status", "{}", 400, "takes no body"},
    BadCase{"body_on_get_server", "GET", "/v1/server", "{}", 400, "takes no body"},
    BadCase{"body_on_delete", "DELETE", "/v1/domains/example.com", "{}", 400, "takes no body"},
    BadCase{"bad_version_in_path", "GET", "/v1/domains/example.com/policies/first", "", 400,
            "'first' is not a version number"},
    BadCase{"bad_percent_encoding", "GET", "/v1/domains/example%zz.com", "", 400, "percent-encoding"},
    BadCase{"bad_domain_in_path", "GET", "/v1/domains/-bad-.example/status", "", 400, "-bad-.example"},
    BadCase{"bad_query_number", "GET", "/v1/domains/example.com/events?limit=lots", "", 400,
            "query parameter 'limit': 'lots'"},
    BadCase{"query_number_out_of_range", "GET", "/v1/domains?limit=0", "", 400, "out of range"},
    BadCase{"import_confirm_without_reason", "POST", "/v1/import", R"({"rows":[],"confirm":true})", 400,
            "field 'reason'"},
    BadCase{"import_rows_not_list", "POST", "/v1/import", R"({"rows":{}})", 400, "field 'rows'"},
    BadCase{
        "import_duplicate_in_request", "POST", "/v1/import",
        R"({"rows":[{"domain":"a.example","mode":"none","mx":["m.a.example"],"max_age":86400},{"domain":"A.example.","mode":"none","mx":["m.a.example"],"max_age":86400}]})",
        400, "appears twice"},
};

INSTANTIATE_TEST_SUITE_P(Admin, BadInput, testing::ValuesIn(kBadCases),
                         [](const testing::TestParamInfo<BadCase>& info) { return info.param.name; });

// The exact documents of the refusals the router makes (clients and scripts match on
// them), and the Allow field of a 405 (RFC 9110 §15.5.6).
struct RefusalCase {
  const char* name;
  std::string method;
  std::string target;
  std::string body;
  unsigned status;
  std::string document;
  std::string allow;  // empty: no Allow field
};

void PrintTo(const RefusalCase& c, std::ostream* os) { *os << c.name; }

class Refusal : public Api, public testing::WithParamInterface<RefusalCase> {};

TEST_P(Refusal, HasItsDocumentAndFields) {
  ASSERT_EQ(call("POST", "/v1/domains", {{"domain", "example.com"}}).status, 201u);
  const auto& c = GetParam();
  const auto response = raw(c.method, c.target, c.body);
  EXPECT_EQ(response.status, c.status);
  EXPECT_EQ(response.body.dump(), c.document);
  std::string allow;
  for (const auto& [name, value] : response.headers) {
    if (name == "Allow")
      allow = value;
    else
      ADD_FAILURE() << "unexpected field " << name;
  }
  EXPECT_EQ(allow, c.allow);
}

INSTANTIATE_TEST_SUITE_P(
    Admin, Refusal,
    testing::Values(
        RefusalCase{"outside_v1", "GET", "/v2/domains", "", 404,
                    R"j({"error":"no such endpoint: /v2/domains (the API lives under /v1/)"})j", ""},
        RefusalCase{"root", "GET", "/", "", 404, R"j({"error":"no such endpoint: / (the API lives under /v1/)"})j", ""},
        RefusalCase{"under_v1", "GET", "/v1/nothing?x=1", "", 404, R"j({"error":"no such endpoint: /v1/nothing?x=1"})j",
                    ""},
        RefusalCase{"under_a_domain", "POST", "/v1/domains/example.com/frobs", "{}", 404,
                    R"j({"error":"no such endpoint: /v1/domains/example.com/frobs"})j", ""},
        RefusalCase{"list_patch", "PATCH", "/v1/domains", "", 405,
                    R"j({"error":"PATCH is not allowed on /v1/domains (allowed: GET, POST)"})j", "GET, POST"},
        RefusalCase{"domain_put", "PUT", "/v1/domains/example.com", "", 405,
                    R"j({"error":"PUT is not allowed on /v1/domains/example.com (allowed: GET, DELETE)"})j",
                    "GET, DELETE"},
        RefusalCase{"settings_post", "POST", "/v1/domains/example.com/settings", "{}", 405,
                    R"j({"error":"POST is not allowed on /v1/domains/example.com/settings (allowed: GET, PUT)"})j",
                    "GET, PUT"},
        RefusalCase{"import_get", "GET", "/v1/import", "", 405,
                    R"j({"error":"GET is not allowed on /v1/import (allowed: POST)"})j", "POST"},
        RefusalCase{
            "unknown_domain", "GET", "/v1/domains/Other.Example./status", "", 404,
            R"j({"domain":"other.example","error":"other.example is not in the store (add it first: stsctl domain add other.example)"})j",
            ""},
        RefusalCase{"body_on_get", "GET", "/v1/domains/example.com/events", "{}", 400,
                    R"j({"error":"GET /v1/domains/example.com/events takes no body"})j", ""},
        RefusalCase{"body_missing", "POST", "/v1/domains/example.com/confirm", "", 400,
                    R"j({"error":"this request needs a JSON object body"})j", ""},
        RefusalCase{"bad_percent_encoding", "GET", "/v1/nothing%zz", "", 400,
                    R"j({"error":"bad percent-encoding in the request target"})j", ""}),
    [](const testing::TestParamInfo<RefusalCase>& info) { return info.param.name; });

TEST_F(Api, HooksCanRefuseAStageAndAddToStatusAndRoutes) {
  add_staged_confirmed("example.com");
  hooks_->add_stage_check([](const std::string& domain, const store::Policy& policy) {
    std::vector<std::string> problems;
    for (const auto& mx : policy.mx) {
      if (mx == "old.example.com") problems.push_back("MX host new.example.com is not covered");
    }
    return problems;
  });
  hooks_->add_status_section("prober", [](const std::string& domain) {
    return json{{"lines", {"edge 192.0.2.7 still serves version 1"}}};
  });
  hooks_->add_domain_route("GET", "check", [](const std::string& domain, const json&) {
    return json{{"checked", domain}};
  });
  json policy = {{"mode", "enforce"}, {"mx", {"old.example.com"}}, {"max_age", 604800}};
  auto refused = call("POST", "/v1/domains/example.com/policies", policy);
  EXPECT_EQ(refused.status, 409u);
  EXPECT_NE(refused.body["error"].get<std::string>().find("not covered"), std::string::npos);
  EXPECT_FALSE(state_->version("example.com", 2));
  policy["force"] = true;
  auto forced = call("POST", "/v1/domains/example.com/policies", policy);
  EXPECT_EQ(forced.status, 201u);
  EXPECT_EQ(forced.body["forced_past"].size(), 1u);
  auto status = call("GET", "/v1/domains/example.com/status");
  EXPECT_EQ(status.body["extensions"]["prober"]["lines"][0], "edge 192.0.2.7 still serves version 1");
  auto check = call("GET", "/v1/domains/EXAMPLE.com./check");
  EXPECT_EQ(check.status, 200u);
  EXPECT_EQ(check.body["checked"], "example.com");
  // A hook's route is in the same table: a wrong verb is a 405, an unknown domain a 404.
  auto posted = call("POST", "/v1/domains/example.com/check", json::object());
  EXPECT_EQ(posted.status, 405u) << posted.body;
  EXPECT_EQ(posted.headers, (std::vector<std::pair<std::string, std::string>>{{"Allow", "GET"}}));
  EXPECT_EQ(call("GET", "/v1/domains/other.example/check").status, 404u);
}

TEST_F(Api, AConfirmCheckRefusesAManualConfirmationUnlessForcedAndTheEventSaysSo) {
  add_staged_confirmed("example.com");
  ASSERT_EQ(call("POST", "/v1/domains/example.com/policies",
                 {{"mode", "enforce"}, {"mx", {"mx1.example.com", "mx2.example.com"}}, {"max_age", 604800}})
                .status,
            201u);
  auto lagging = std::make_shared<bool>(true);
  hooks_->add_confirm_check([lagging](const std::string& domain, uint32_t version) {
    std::vector<std::string> problems;
    if (*lagging && domain == "example.com" && version == 2)
      problems.push_back("edge 192.0.2.8 still serves version 1");
    return problems;
  });
  json body = {{"version", 2}, {"reason", "deployed"}};
  auto refused = call("POST", "/v1/domains/example.com/confirm", body);
  EXPECT_EQ(refused.status, 409u);
  EXPECT_NE(refused.body["error"].get<std::string>().find("not confirmed: edge 192.0.2.8 still serves version 1"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(refused.body["problems"], json({"edge 192.0.2.8 still serves version 1"}));
  EXPECT_EQ(state_->status("example.com", 0)->confirmed->number, 1u) << "nothing changed";
  body["force"] = true;
  auto forced = call("POST", "/v1/domains/example.com/confirm", body);
  ASSERT_EQ(forced.status, 200u) << forced.body;
  EXPECT_EQ(forced.body["forced_past"], json({"edge 192.0.2.8 still serves version 1"}));
  EXPECT_EQ(state_->status("example.com", 0)->confirmed->number, 2u);
  const auto events = state_->events("example.com", 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "manual_confirm");
  EXPECT_EQ(events[0].detail, "deployed: forced: edge 192.0.2.8 still serves version 1");
  // A check with nothing to say lets the confirmation through, with nothing forced.
  *lagging = false;
  auto again = call("POST", "/v1/domains/example.com/confirm", {{"version", 2}, {"reason", "again"}});
  EXPECT_EQ(again.status, 200u);
  EXPECT_EQ(again.body["forced_past"], json::array());
}

TEST_F(Api, HookRoutesGetTheBodyOrNull) {
  add_staged_confirmed("example.com");
  hooks_->add_domain_route("POST", "probe", [](const std::string& domain, const json& body) {
    return json{{"domain", domain}, {"body", body}};
  });
  auto without = call("POST", "/v1/domains/example.com/probe");
  ASSERT_EQ(without.status, 200u) << without.body;
  EXPECT_TRUE(without.body["body"].is_null());
  auto with = call("POST", "/v1/domains/example.com/probe", {{"now", true}});
  ASSERT_EQ(with.status, 200u) << with.body;
  EXPECT_EQ(with.body["body"], json({{"now", true}}));
  EXPECT_EQ(raw("POST", "/v1/domains/example.com/probe", "[1]").status, 400u);
}

TEST_F(Api, ServerInfo) {
  auto info = call("GET", "/v1/server");
  ASSERT_EQ(info.status, 200u);
  EXPECT_EQ(info.body["version"], STSD_VERSION);
  EXPECT_EQ(info.body["schema"], store::PolicyStore::kSchemaVersion);
  EXPECT_EQ(info.body["now"], "2025-01-01T12:00:00Z");
  EXPECT_EQ(info.body["store"]["writable"], true);
  EXPECT_TRUE(info.body["store"]["reason"].is_null());
}

TEST_F(Api, AStoreThatCannotWriteAnswers503WithTheReasonAndServesReads) {
  add_staged_confirmed("example.com");
  // The database under the store refuses every write, as a read-only file system does.
  api_.reset();
  state_.reset();
  db_.reset();
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), (dir_.path() / "db").native(), &raw).ok());
  db_.reset(raw);
  state_ = std::make_shared<store::PolicyStore>(*db_, clock_);
  api_ = std::make_unique<AdminApi>(state_, hooks_);

  const json policy = {{"mode", "enforce"}, {"mx", {"mx2.example.com"}}, {"max_age", 604800}};
  auto failed = call("POST", "/v1/domains/example.com/policies", policy);
  EXPECT_EQ(failed.status, 503u) << failed.body;
  EXPECT_NE(failed.body["error"].get<std::string>().find("store write failed (nothing changed)"), std::string::npos)
      << failed.body;
  EXPECT_EQ(failed.body["store"]["writable"], false);
  EXPECT_EQ(failed.body["store"]["failed_writes"], 1);
  auto refused = call("POST", "/v1/domains", {{"domain", "new.example"}});
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_NE(refused.body["error"].get<std::string>().find("the store refuses writes (nothing changed)"),
            std::string::npos)
      << refused.body;

  auto status = call("GET", "/v1/domains/example.com/status");
  ASSERT_EQ(status.status, 200u) << "reads go on";
  EXPECT_EQ(status.body["staged"]["version"], 1);
  auto info = call("GET", "/v1/server");
  EXPECT_EQ(info.body["store"]["writable"], false);
  EXPECT_EQ(info.body["store"]["refused_writes"], 1);
  EXPECT_FALSE(info.body["store"]["failed_since"].is_null());
}

}  // namespace
}  // namespace stsd::admin

namespace stsd::admin {
namespace {

// A service's own route (AdminExtensions::add_api_route): its path under /v1, the body
// as sent with its media type, any status; a body of another type is refused with 415
// before the route runs, and the built-in routes keep refusing bodies that are not JSON.
TEST_F(Api, OwnRoutesOfOtherServicesTakeTheirBodyAsSent) {
  std::vector<std::string> seen;
  hooks_->add_api_route("POST", "things", {"application/x-thing"}, [&](const store::AdminExtensions::ApiCall& c) {
    seen.push_back(c.method + " " + c.media_type + " " + c.body + " q=" + c.query.at("q"));
    return store::AdminExtensions::ApiReply{202, {{"ok", true}}, {{"X-Thing", "1"}}};
  });
  const ApiResponse taken = api_->handle({"POST", "/v1/things?q=a%20b", "\x01raw", "application/x-thing"});
  EXPECT_EQ(taken.status, 202u);
  EXPECT_EQ(taken.body, (nlohmann::json{{"ok", true}}));
  ASSERT_EQ(taken.headers.size(), 1u);
  EXPECT_EQ(seen, std::vector<std::string>{"POST application/x-thing \x01raw q=a b"});
  const ApiResponse json_body = api_->handle({"POST", "/v1/things?q=1", "{}", std::string(kJsonMediaType)});
  EXPECT_EQ(json_body.status, 415u);
  EXPECT_EQ(json_body.body["error"], "POST /v1/things?q=1 takes a body of Content-Type application/x-thing");
  EXPECT_EQ(seen.size(), 1u);
  const ApiResponse builtin = api_->handle({"POST", "/v1/domains", "{}", "application/x-thing"});
  EXPECT_EQ(builtin.status, 415u);
  EXPECT_EQ(call("GET", "/v1/things").status, 405u);
  EXPECT_TRUE(hooks_->takes_media_type("application/x-thing"));
  EXPECT_FALSE(hooks_->takes_media_type("text/plain"));
}

}  // namespace
}  // namespace stsd::admin
