// What the policy host answers to each request, the `policy_host:` config, and the
// per-client limits.
#include <gtest/gtest.h>

#include <map>

#include "policyhost/http_routing.h"
#include "policyhost/settings.h"

// The tables below name only the fields that differ from a plain GET of the policy; the
// other members keep their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace stsd::policyhost {
namespace {

const std::string kPolicy =
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mail.example.com\r\nmax_age: 604800\r\n";
const std::string kOtherPolicy = "version: STSv1\r\nmode: testing\r\nmx: mx.other.test\r\nmax_age: 86400\r\n";

PolicyLookup fake_store() {
  return [](std::string_view domain) -> std::optional<std::string> {
    static const std::map<std::string, std::string, std::less<>> policies = {{"example.com", kPolicy},
                                                                             {"other.test", kOtherPolicy}};
    auto it = policies.find(domain);
    if (it == policies.end()) return std::nullopt;
    return it->second;
  };
}

struct RoutingCase {
  std::string name;
  std::string method = "GET";
  std::string target = "/.well-known/mta-sts.txt";
  std::optional<std::string> host = "mta-sts.example.com";
  std::string sni = "mta-sts.example.com";
  unsigned version = 11;
  bool has_body = false;
  bool repeated_host = false;
  std::string if_none_match;
  // expected
  unsigned status = 200;
  bool send_body = true;
  bool close = false;
  std::string body_prefix;  // for 200: the exact body
};

std::vector<RoutingCase> routing_cases() {
  std::vector<RoutingCase> cases;
  auto add = [&](RoutingCase c) { cases.push_back(std::move(c)); };
  add({.name = "policy_for_known_domain", .body_prefix = kPolicy});
  add({.name = "second_domain_gets_its_own_policy",
       .host = "mta-sts.other.test",
       .sni = "mta-sts.other.test",
       .body_prefix = kOtherPolicy});
  add({.name = "host_case_and_port_ignored", .host = "MTA-STS.Example.COM:8443", .body_prefix = kPolicy});
  add({.name = "host_trailing_dot", .host = "mta-sts.example.com.", .body_prefix = kPolicy});
  add({.name = "sni_case_ignored", .sni = "MTA-STS.EXAMPLE.COM", .body_prefix = kPolicy});
  add({.name = "query_string_ignored", .target = "/.well-known/mta-sts.txt?x=1", .body_prefix = kPolicy});
  add({.name = "absolute_form_target",
       .target = "https://mta-sts.example.com/.well-known/mta-sts.txt",
       .host = "ignored.test",
       .body_prefix = kPolicy});
  add({.name = "head_has_no_body", .method = "HEAD", .send_body = false});
  add({.name = "http10_without_host_uses_sni", .host = std::nullopt, .version = 10, .body_prefix = kPolicy});
  add({.name = "if_none_match_other_tag", .if_none_match = "\"0000\"", .body_prefix = kPolicy});
  add({.name = "unknown_domain", .host = "mta-sts.unknown.test", .sni = "mta-sts.unknown.test", .status = 404});
  add({.name = "host_without_mta_sts_label", .host = "example.com", .sni = "", .status = 404});
  add({.name = "host_is_ip_literal", .host = "[::1]:8443", .sni = "", .status = 404});
  add({.name = "host_is_bare_prefix", .host = "mta-sts.", .sni = "", .status = 404});
  add({.name = "unknown_path", .target = "/", .status = 404});
  add({.name = "path_case_matters", .target = "/.well-known/MTA-STS.txt", .status = 404});
  add({.name = "path_prefix_only", .target = "/.well-known/mta-sts.txt/x", .status = 404});
  add({.name = "head_404_has_no_body", .method = "HEAD", .target = "/nope", .status = 404, .send_body = false});
  add({.name = "post_not_allowed", .method = "POST", .status = 405});
  add({.name = "post_with_body_closes", .method = "POST", .has_body = true, .status = 405, .close = true});
  add({.name = "put_not_allowed", .method = "PUT", .status = 405});
  add({.name = "options_not_allowed", .method = "OPTIONS", .status = 405});
  add({.name = "lower_case_get_is_another_method", .method = "get", .status = 405});  // RFC 9110 §9.1
  add({.name = "missing_host_http11", .host = std::nullopt, .status = 400, .close = true});
  add({.name = "repeated_host", .repeated_host = true, .status = 400, .close = true});
  add({.name = "host_differs_from_sni", .host = "mta-sts.other.test", .status = 421});
  add({.name = "not_modified_with_matching_tag", .if_none_match = "*", .status = 304, .send_body = false});
  return cases;
}

class Routing : public ::testing::TestWithParam<RoutingCase> {};

TEST_P(Routing, Answers) {
  const RoutingCase& c = GetParam();
  HttpRequestView request;
  request.method = c.method;
  request.target = c.target;
  request.version = c.version;
  if (c.host) request.host = *c.host;
  request.repeated_host = c.repeated_host;
  request.sni = c.sni;
  request.has_body = c.has_body;
  request.if_none_match = c.if_none_match;
  const HttpReply reply = route(request, fake_store(), RoutingSettings{std::chrono::seconds(60)});

  EXPECT_EQ(reply.status, c.status);
  EXPECT_EQ(reply.send_body, c.send_body);
  EXPECT_EQ(reply.close, c.close);
  EXPECT_EQ(reply.header("Location"), nullptr) << "never a redirect";
  const std::string* length = reply.header("Content-Length");
  if (c.status != 304) {
    ASSERT_NE(length, nullptr);
    EXPECT_EQ(*length, std::to_string(reply.body.size())) << "HEAD announces the GET body's length";
    ASSERT_NE(reply.header("Content-Type"), nullptr);
    EXPECT_EQ(*reply.header("Content-Type"), "text/plain; charset=utf-8");
  }
  if (c.status == 200) {
    EXPECT_EQ(*reply.header("Cache-Control"), "max-age=60");
    ASSERT_NE(reply.header("ETag"), nullptr);
    EXPECT_EQ(*reply.header("ETag"), entity_tag(reply.body));
    if (!c.body_prefix.empty()) {
      EXPECT_EQ(reply.body, c.body_prefix);
    }
  } else if (c.status != 304) {
    EXPECT_EQ(*reply.header("Cache-Control"), "no-store");
  }
  if (c.status == 405) {
    ASSERT_NE(reply.header("Allow"), nullptr);
    EXPECT_EQ(*reply.header("Allow"), "GET, HEAD");
  }
}

INSTANTIATE_TEST_SUITE_P(PolicyHost, Routing, ::testing::ValuesIn(routing_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(RoutingDetails, HeadAnnouncesTheGetLength) {
  HttpRequestView request;
  request.method = "HEAD";
  request.target = kPolicyPath;
  request.host = "mta-sts.example.com";
  auto reply = route(request, fake_store(), {});
  EXPECT_EQ(*reply.header("Content-Length"), std::to_string(kPolicy.size()));
  EXPECT_FALSE(reply.send_body);
}

TEST(RoutingDetails, CacheMaxAgeIsConfigurable) {
  HttpRequestView request;
  request.method = "GET";
  request.target = kPolicyPath;
  request.host = "mta-sts.example.com";
  auto reply = route(request, fake_store(), RoutingSettings{std::chrono::seconds(300)});
  EXPECT_EQ(*reply.header("Cache-Control"), "max-age=300");
}

TEST(RoutingDetails, ETagFollowsTheContent) {
  EXPECT_EQ(entity_tag(kPolicy), entity_tag(kPolicy));
  EXPECT_NE(entity_tag(kPolicy), entity_tag(kOtherPolicy));
  EXPECT_EQ(entity_tag(kPolicy).size(), 34u);  // quoted 32 hex digits
  const std::string tag = entity_tag(kPolicy);
  EXPECT_TRUE(if_none_match_matches(tag, tag));
  EXPECT_TRUE(if_none_match_matches("\"a\", W/" + tag, tag));
  EXPECT_TRUE(if_none_match_matches(" * ", tag));
  EXPECT_FALSE(if_none_match_matches("\"a\", \"b\"", tag));
  EXPECT_FALSE(if_none_match_matches("", tag));
}

TEST(RoutingDetails, PolicyDomainOfHost) {
  EXPECT_EQ(policy_domain_of_host("mta-sts.example.com"), "example.com");
  EXPECT_EQ(policy_domain_of_host(" MTA-STS.Example.Com:443 "), "example.com");
  EXPECT_EQ(policy_domain_of_host("mta-sts.example.com:"), "example.com");
  EXPECT_EQ(policy_domain_of_host("www.example.com"), std::nullopt);
  EXPECT_EQ(policy_domain_of_host("mta-sts.*.example.com"), std::nullopt);
  EXPECT_EQ(policy_domain_of_host("mta-sts.exa mple.com"), std::nullopt);
  EXPECT_EQ(policy_domain_of_host(""), std::nullopt);
}

TEST(RoutingDetails, LogFieldsComeFromTheRequest) {
  HttpRequestView request;
  request.method = "GET";
  request.target = "/.well-known/mta-sts.txt?probe=1";
  request.host = "MTA-STS.Example.com:8443";
  auto reply = route(request, fake_store(), {});
  EXPECT_EQ(reply.host, "mta-sts.example.com");
  EXPECT_EQ(reply.path, "/.well-known/mta-sts.txt");
}

// --- config ---------------------------------------------------------------------------

ConfigNode config_of(const std::string& yaml) {
  return ConfigNode(YAML::Load(yaml), std::make_shared<const std::filesystem::path>("/etc/stsd/stsd.yaml"),
                    "policy_host");
}

TEST(PolicyHostSettings, ParsesEveryKey) {
  auto settings = parse_policy_host_settings(config_of(R"(
listen: ["127.0.0.1:8443", "[::1]:8443"]
cert_dir: certs/
cache_max_age: 2m
cert_poll: 2s
threads: 2
max_header_bytes: 4096
max_connections: 100
max_connections_per_client: 5
max_pending_connections: 50
max_pending_per_client: 4
requests_per_second: 3
burst: 6
handshake_timeout: 3s
request_timeout: 4s
idle_timeout: 5s
access_log: false
)"));
  EXPECT_EQ(settings.endpoints.size(), 2u);
  EXPECT_EQ(settings.endpoints[0].port(), 8443);
  EXPECT_EQ(settings.cert_dir, std::filesystem::path("/etc/stsd/certs/"));
  EXPECT_EQ(settings.cache_max_age, std::chrono::seconds(120));
  EXPECT_EQ(settings.cert_poll, std::chrono::seconds(2));
  EXPECT_EQ(settings.threads, 2u);
  EXPECT_EQ(settings.max_header_bytes, 4096u);
  EXPECT_EQ(settings.limits.max_connections, 100u);
  EXPECT_EQ(settings.limits.max_connections_per_client, 5u);
  EXPECT_EQ(settings.limits.max_pending, 50u);
  EXPECT_EQ(settings.limits.max_pending_per_client, 4u);
  EXPECT_EQ(settings.limits.requests_per_second, 3.0);
  EXPECT_EQ(settings.limits.burst, 6.0);
  EXPECT_EQ(settings.handshake_timeout, std::chrono::seconds(3));
  EXPECT_EQ(settings.request_timeout, std::chrono::seconds(4));
  EXPECT_EQ(settings.idle_timeout, std::chrono::seconds(5));
  EXPECT_FALSE(settings.access_log);
}

TEST(PolicyHostSettings, DefaultsSuitSenders) {
  auto settings = parse_policy_host_settings(config_of("{listen: \"0.0.0.0:443\", cert_dir: /etc/stsd/certs}"));
  EXPECT_EQ(settings.cache_max_age, std::chrono::seconds(60));  // RFC 8461 §8.2 example
  EXPECT_EQ(settings.max_header_bytes, 8192u);
  EXPECT_EQ(settings.threads, 1u);
  // Connections that have not finished their TLS handshake and first request: a short
  // deadline, a few per address, and a pool of their own.
  EXPECT_EQ(settings.handshake_timeout, std::chrono::seconds(5));
  EXPECT_EQ(settings.limits.max_pending_per_client, 8u);
  EXPECT_EQ(settings.limits.max_pending, 256u);
}

TEST(PolicyHostSettings, RejectsBadConfigNamingTheKey) {
  struct Case {
    std::string yaml;
    std::string fragment;  // expected in the error message
  };
  const Case cases[] = {
      {"{cert_dir: certs}", "listen"},
      {"{listen: [], cert_dir: certs}", "policy_host.listen: expected an address such as"},
      {"{listen: [\"localhost:443\"], cert_dir: certs}", "not ADDRESS:PORT"},
      {"{listen: [\"127.0.0.1\"], cert_dir: certs}", "not ADDRESS:PORT"},
      {"{listen: [\"127.0.0.1:8443\", \"127.0.0.1:8443\"], cert_dir: certs}", "listed twice"},
      {"{listen: [\"127.0.0.1:8443\"]}", "cert_dir"},
      {"{listen: [\"127.0.0.1:8443\"], cert_dir: certs, cache_max_age: 2d}", "between"},
      {"{listen: [\"127.0.0.1:8443\"], cert_dir: certs, max_header_bytes: 10}", "max_header_bytes"},
      {"{listen: [\"127.0.0.1:8443\"], cert_dir: certs, threads: 0}", "threads"},
      {"{listen: [\"127.0.0.1:8443\"], cert_dir: certs, request_timeout: soon}", "request_timeout"},
      {"{listen: [\"127.0.0.1:8443\"], cert_dir: certs, redirect: yes}", "redirect"},
  };
  for (const auto& c : cases) {
    try {
      parse_policy_host_settings(config_of(c.yaml));
      ADD_FAILURE() << "accepted: " << c.yaml;
    } catch (const ConfigError& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find(c.fragment), std::string::npos) << c.yaml << " -> " << message;
      EXPECT_NE(message.find("stsd.yaml:"), std::string::npos) << "names the file: " << message;
    }
  }
}

}  // namespace
}  // namespace stsd::policyhost
