// The admin API's route table and its matcher, without a store: which route a verb and
// target reach and what they capture, or 404 (no such path) and 405 (with the verbs the
// path has). The targets go through parse_target first, as requests do, so percent-
// decoding and empty segments are part of every case.
#include <gtest/gtest.h>

#include <optional>

#include "api_routes.h"

namespace stsd::admin {
namespace {

using nlohmann::json;
using store::AdminExtensions;

struct MatchCase {
  const char* name;
  std::string verb;
  std::string target;
  // Found: the route's "VERB pattern" and its captures. Else `allowed` (405), or
  // nothing (404).
  std::optional<std::string> route;
  Captures captures;
  std::vector<std::string> allowed;
};

void PrintTo(const MatchCase& c, std::ostream* os) { *os << c.name; }

// The hooks of the confirmer: `stsctl check DOMAIN`.
std::shared_ptr<AdminExtensions> confirmer_like_hooks() {
  auto hooks = std::make_shared<AdminExtensions>();
  hooks->add_domain_route("GET", "check", [](const std::string& domain, const json&) { return json(domain); });
  return hooks;
}

MatchCase found(const char* name, std::string verb, std::string target, std::string route, Captures captures = {}) {
  return {name, std::move(verb), std::move(target), std::move(route), std::move(captures), {}};
}
MatchCase not_allowed(const char* name, std::string verb, std::string target, std::vector<std::string> allowed) {
  return {name, std::move(verb), std::move(target), std::nullopt, {}, std::move(allowed)};
}
MatchCase not_found(const char* name, std::string verb, std::string target) {
  return {name, std::move(verb), std::move(target), std::nullopt, {}, {}};
}

class Match : public testing::TestWithParam<MatchCase> {};

TEST_P(Match, PicksTheRouteOrSaysWhyNot) {
  const auto& c = GetParam();
  const auto hooks = confirmer_like_hooks();
  const std::vector<Route> table = admin_routes(*hooks);
  const Target target = parse_target(c.target);
  const RouteMatch match = match_route(table, c.verb, target.segments);
  if (c.route) {
    ASSERT_NE(match.route, nullptr) << "allowed: " << allow_value(match.allowed);
    EXPECT_EQ(match.route->verb + " " + match.route->pattern, *c.route);
    EXPECT_EQ(match.captures, c.captures);
    EXPECT_TRUE(match.allowed.empty());
  } else {
    ASSERT_EQ(match.route, nullptr) << match.route->verb << " " << match.route->pattern;
    EXPECT_EQ(match.allowed, c.allowed);
    EXPECT_TRUE(match.captures.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    AdminRoutes, Match,
    testing::Values(
        found("server", "GET", "/v1/server", "GET /v1/server"),
        found("server_with_query", "GET", "/v1/server?x=1", "GET /v1/server"),
        found("list", "GET", "/v1/domains?limit=5&after=a.example", "GET /v1/domains"),
        found("add", "POST", "/v1/domains", "POST /v1/domains"),
        found("empty_segments_dropped", "GET", "/v1//domains/", "GET /v1/domains"),
        found("domain", "GET", "/v1/domains/example.com", "GET /v1/domains/{domain}", {{"domain", "example.com"}}),
        found("remove", "DELETE", "/v1/domains/example.com", "DELETE /v1/domains/{domain}",
              {{"domain", "example.com"}}),
        found("status", "GET", "/v1/domains/Example.COM./status", "GET /v1/domains/{domain}/status",
              {{"domain", "Example.COM."}}),
        found("percent_decoded_capture", "GET", "/v1/domains/ex%61mple.com/events", "GET /v1/domains/{domain}/events",
              {{"domain", "example.com"}}),
        found("encoded_slash_stays_in_its_segment", "GET", "/v1/domains/a%2Fb/status",
              "GET /v1/domains/{domain}/status", {{"domain", "a/b"}}),
        found("percent_decoded_literal", "GET", "/v1/%73erver", "GET /v1/server"),
        found("settings_get", "GET", "/v1/domains/example.com/settings", "GET /v1/domains/{domain}/settings",
              {{"domain", "example.com"}}),
        found("settings_put", "PUT", "/v1/domains/example.com/settings", "PUT /v1/domains/{domain}/settings",
              {{"domain", "example.com"}}),
        found("stage", "POST", "/v1/domains/example.com/policies", "POST /v1/domains/{domain}/policies",
              {{"domain", "example.com"}}),
        found("version", "GET", "/v1/domains/example.com/policies/12", "GET /v1/domains/{domain}/policies/{version}",
              {{"domain", "example.com"}, {"version", "12"}}),
        found("version_not_a_number_is_the_handlers_to_refuse", "GET", "/v1/domains/example.com/policies/x",
              "GET /v1/domains/{domain}/policies/{version}", {{"domain", "example.com"}, {"version", "x"}}),
        found("current_policy", "GET", "/v1/domains/example.com/policy", "GET /v1/domains/{domain}/policy",
              {{"domain", "example.com"}}),
        found("confirm", "POST", "/v1/domains/example.com/confirm", "POST /v1/domains/{domain}/confirm",
              {{"domain", "example.com"}}),
        found("retire", "POST", "/v1/domains/example.com/retirement", "POST /v1/domains/{domain}/retirement",
              {{"domain", "example.com"}}),
        found("unretire", "DELETE", "/v1/domains/example.com/retirement", "DELETE /v1/domains/{domain}/retirement",
              {{"domain", "example.com"}}),
        found("remove_forced", "DELETE", "/v1/domains/example.com?force=true", "DELETE /v1/domains/{domain}",
              {{"domain", "example.com"}}),
        found("import", "POST", "/v1/import", "POST /v1/import"),
        found("backup", "POST", "/v1/backup", "POST /v1/backup"),
        found("hook_route", "GET", "/v1/domains/example.com/check", "GET /v1/domains/{domain}/check",
              {{"domain", "example.com"}}),

        not_allowed("list_patch", "PATCH", "/v1/domains", {"GET", "POST"}),
        not_allowed("list_delete", "DELETE", "/v1/domains", {"GET", "POST"}),
        not_allowed("server_post", "POST", "/v1/server", {"GET"}),
        not_allowed("server_head", "HEAD", "/v1/server", {"GET"}),
        not_allowed("domain_put", "PUT", "/v1/domains/example.com", {"GET", "DELETE"}),
        not_allowed("status_delete", "DELETE", "/v1/domains/example.com/status", {"GET"}),
        not_allowed("settings_post", "POST", "/v1/domains/example.com/settings", {"GET", "PUT"}),
        not_allowed("policies_get", "GET", "/v1/domains/example.com/policies", {"POST"}),
        not_allowed("version_delete", "DELETE", "/v1/domains/example.com/policies/1", {"GET"}),
        not_allowed("confirm_get", "GET", "/v1/domains/example.com/confirm", {"POST"}),
        not_allowed("import_get", "GET", "/v1/import", {"POST"}),
        not_allowed("backup_get", "GET", "/v1/backup", {"POST"}),
        not_allowed("retirement_get", "GET", "/v1/domains/example.com/retirement", {"POST", "DELETE"}),
        not_allowed("hook_route_post", "POST", "/v1/domains/example.com/check", {"GET"}),
        not_allowed("verbs_are_case_sensitive", "get", "/v1/server", {"GET"}),

        not_found("root", "GET", "/"), not_found("v1_alone", "GET", "/v1"),
        not_found("other_version", "GET", "/v2/domains"), not_found("unknown_under_v1", "GET", "/v1/nothing"),
        not_found("literals_are_case_sensitive", "GET", "/v1/Server"),
        not_found("unknown_resource", "GET", "/v1/domains/example.com/frobs"),
        not_found("too_long", "GET", "/v1/domains/example.com/status/more"),
        not_found("too_long_after_version", "GET", "/v1/domains/example.com/policies/1/text"),
        not_found("server_with_more", "GET", "/v1/server/x")),
    [](const testing::TestParamInfo<MatchCase>& info) { return info.param.name; });

TEST(AdminRoutes, TheFirstRouteOfAVerbAndPathWins) {
  // A hook cannot replace a built-in route: the built-in one comes first.
  AdminExtensions hooks;
  hooks.add_domain_route("GET", "status", [](const std::string&, const json&) { return json("hook"); });
  const std::vector<Route> table = admin_routes(hooks);
  const RouteMatch match = match_route(table, "GET", parse_target("/v1/domains/example.com/status").segments);
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->body, BodyRule::None);  // the built-in status route, not the hook's
}

TEST(AdminRoutes, AHookNameIsOneLiteralSegment) {
  AdminExtensions hooks;
  hooks.add_domain_route("GET", "{name}", [](const std::string&, const json&) { return json(); });
  hooks.add_domain_route("POST", "a/b", [](const std::string&, const json&) { return json(); });
  const std::vector<Route> table = admin_routes(hooks);
  auto match = [&](const std::string& verb, const std::string& target) {
    return match_route(table, verb, parse_target(target).segments);
  };
  EXPECT_EQ(match("GET", "/v1/domains/example.com/anything").route, nullptr);
  const RouteMatch literal = match("GET", "/v1/domains/example.com/%7Bname%7D");
  ASSERT_NE(literal.route, nullptr);
  EXPECT_EQ(literal.captures, (Captures{{"domain", "example.com"}}));
  EXPECT_EQ(match("POST", "/v1/domains/example.com/a/b").route, nullptr);
  EXPECT_NE(match("POST", "/v1/domains/example.com/a%2Fb").route, nullptr);
}

TEST(AdminRoutes, PatternsOfAnyTable) {
  const Handler none;
  const std::vector<Route> table = {
      make_route("GET", "/a/{x}/b/{y}", BodyRule::None, none),
      make_route("PUT", "/a/{x}/b/{y}", BodyRule::Required, none),
      make_route("GET", "/a/fixed/b/{y}", BodyRule::None, none),  // shadowed by the first
      make_route("DELETE", "/a/fixed/b/{y}", BodyRule::None, none),
  };
  RouteMatch match = match_route(table, "GET", {"a", "fixed", "b", "2"});
  ASSERT_EQ(match.route, &table[0]);
  EXPECT_EQ(match.captures, (Captures{{"x", "fixed"}, {"y", "2"}}));
  match = match_route(table, "DELETE", {"a", "fixed", "b", "2"});
  ASSERT_EQ(match.route, &table[3]);
  EXPECT_EQ(match.captures, (Captures{{"y", "2"}}));
  match = match_route(table, "POST", {"a", "fixed", "b", "2"});
  EXPECT_EQ(match.route, nullptr);
  EXPECT_EQ(match.allowed, (std::vector<std::string>{"GET", "PUT", "DELETE"}));  // each verb once
  EXPECT_EQ(allow_value(match.allowed), "GET, PUT, DELETE");
  EXPECT_EQ(match_route(table, "POST", {"a", "other", "b", "2"}).allowed, (std::vector<std::string>{"GET", "PUT"}));
  EXPECT_TRUE(match_route(table, "GET", {"a", "1", "b"}).allowed.empty());
  EXPECT_TRUE(match_route(table, "GET", {}).allowed.empty());
}

TEST(AdminRoutes, TargetsThatAreNotPathsAreRefusedBeforeMatching) {
  for (const char* target :
       {"", "v1/server", "?x=1", "/v1/domains/example%zz.com", "/v1/domains/example.com%", "/v1/domains?after=%4"}) {
    try {
      parse_target(target);
      ADD_FAILURE() << target << " was accepted";
    } catch (const HttpError& error) {
      EXPECT_EQ(error.status, 400u) << target;
    }
  }
}

}  // namespace
}  // namespace stsd::admin
