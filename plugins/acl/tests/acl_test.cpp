// The acl plugin: rules parsed with errors that name file, line and key; queries allowed,
// refused (REFUSED with EDE 18) or dropped by the first rule that matches, and passed on
// when none does.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "acl_plugin.h"
#include "dns/edns.h"
#include "dns/types.h"
#include "plugin_test_support.h"

using namespace stsd;

namespace {

std::unique_ptr<Plugin> make_plugin(const std::string& yaml) {
  test::SetupFixture fixture;
  const auto node = test::yaml_node(yaml, "servers[0].plugins.acl");
  auto setup = fixture.setup(node);
  return acl::make_acl_plugin(setup);
}

// --- configuration ------------------------------------------------------------------

struct BadConfig {
  const char* yaml;
  const char* where;   // "file:line:column: key path" the error starts with
  const char* reason;  // a part of the message after it
};

const BadConfig kBadConfigs[] = {
    {"rules: {action: deny}", "/etc/stsd/stsd.yaml:1:8: servers[0].plugins.acl.rules", "expected a list of rules"},
    {"rules:\n  - deny", "/etc/stsd/stsd.yaml:2:5: servers[0].plugins.acl.rules[0]", "expected a rule"},
    {"rules:\n  - {from: [192.0.2.1]}", "/etc/stsd/stsd.yaml:2:5: servers[0].plugins.acl.rules[0]",
     "missing required key 'action'"},
    {"rules:\n  - {action: allow}\n  - {action: block}", "/etc/stsd/stsd.yaml:3:14: servers[0].plugins.acl.rules[1].action",
     "unknown action 'block' (known actions: allow, deny, drop)"},
    {"rules:\n  - action: deny\n    from: [192.0.2.0/24, 10.1.2.3/8]",
     "/etc/stsd/stsd.yaml:3:26: servers[0].plugins.acl.rules[0].from[1]", "'10.1.2.3/8' is not an address prefix"},
    {"rules:\n  - {action: deny, from: example.org}", "/etc/stsd/stsd.yaml:2:26: servers[0].plugins.acl.rules[0].from",
     "'example.org' is not an address prefix"},
    {"rules:\n  - {action: deny, types: [TXT, TEXT]}",
     "/etc/stsd/stsd.yaml:2:33: servers[0].plugins.acl.rules[0].types[1]", "'TEXT' is not a record type"},
    {"rules:\n  - {action: deny, from: []}", "/etc/stsd/stsd.yaml:2:26: servers[0].plugins.acl.rules[0].from",
     "empty list; leave the key out to match any address"},
    {"rules:\n  - {action: deny, types: []}", "/etc/stsd/stsd.yaml:2:27: servers[0].plugins.acl.rules[0].types",
     "empty list; leave the key out to match any query type"},
    {"rules:\n  - {action: deny, to: [192.0.2.1]}", "/etc/stsd/stsd.yaml:2:20: servers[0].plugins.acl.rules[0].to",
     "unknown key 'to' (known keys: action, from, types)"},
    {"allow: [192.0.2.1]", "/etc/stsd/stsd.yaml:1:1: servers[0].plugins.acl.allow", "unknown key 'allow' (known keys: rules)"},
    {"deny", "/etc/stsd/stsd.yaml:1:1: servers[0].plugins.acl", "expected a map of keys"},
};

class AclBadConfig : public ::testing::TestWithParam<BadConfig> {};

TEST_P(AclBadConfig, IsRefusedNamingFileLineAndKey) {
  const BadConfig& c = GetParam();
  try {
    make_plugin(c.yaml);
    FAIL() << "accepted: " << c.yaml;
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(c.where, 0), 0u) << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(Acl, AclBadConfig, ::testing::ValuesIn(kBadConfigs));

TEST(AclConfig, EmptyForms) {
  for (const char* yaml : {"{}", "", "rules: []", "rules:"}) {
    const auto plugin = make_plugin(yaml);
    EXPECT_TRUE(dynamic_cast<const acl::AclPlugin&>(*plugin).rules().empty()) << yaml;
  }
}

TEST(AclConfig, ScalarsCountAsListsOfOneAndTypesTakeAnyCase) {
  const auto plugin = make_plugin("rules:\n  - {action: drop, from: 2001:db8::/32, types: axfr}\n"
                                  "  - {action: deny, types: [TYPE65280, caa]}");
  const auto& rules = dynamic_cast<const acl::AclPlugin&>(*plugin).rules();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].action, acl::Action::Drop);
  ASSERT_EQ(rules[0].from.size(), 1u);
  EXPECT_EQ(rules[0].from[0].length, 32u);
  EXPECT_EQ(rules[0].types, std::vector<uint16_t>{dns::rrtype::AXFR});
  EXPECT_TRUE(rules[1].from.empty());
  EXPECT_EQ(rules[1].types, (std::vector<uint16_t>{65280, dns::rrtype::CAA}));
}

// --- queries --------------------------------------------------------------------------

constexpr const char* kRules = R"(
rules:
  - {action: deny, from: [192.0.2.0/24], types: [AXFR, IXFR]}
  - {action: allow, from: [192.0.2.0/24, "2001:db8::/32"]}
  - {action: drop, from: 198.51.100.0/24}
  - {action: deny, types: [ANY]}
)";

enum class Outcome { PassedOn, Refused, Dropped };

struct Case {
  const char* client;
  uint16_t qtype;
  dns::Transport transport;
  Outcome outcome;
  const char* refusal_text = "";  // the EDE's EXTRA-TEXT of a refusal
};

constexpr auto Udp = dns::Transport::Udp;
constexpr auto Tcp = dns::Transport::Tcp;

const Case kCases[] = {
    // The first rule that matches decides, later ones are not consulted.
    {"192.0.2.7", dns::rrtype::AXFR, Tcp, Outcome::Refused, "denied by acl rules[0]"},
    {"192.0.2.7", dns::rrtype::IXFR, Udp, Outcome::Refused, "denied by acl rules[0]"},
    {"192.0.2.7", dns::rrtype::A, Udp, Outcome::PassedOn},
    {"192.0.2.7", dns::rrtype::ANY, Tcp, Outcome::PassedOn},
    // An IPv4 client on an IPv6 socket is matched as IPv4.
    {"::ffff:192.0.2.7", dns::rrtype::AXFR, Tcp, Outcome::Refused, "denied by acl rules[0]"},
    {"::ffff:192.0.2.7", dns::rrtype::TXT, Udp, Outcome::PassedOn},
    {"2001:db8::53", dns::rrtype::AXFR, Tcp, Outcome::PassedOn},
    {"198.51.100.1", dns::rrtype::A, Udp, Outcome::Dropped},
    {"198.51.100.1", dns::rrtype::AXFR, Tcp, Outcome::Dropped},
    {"203.0.113.9", dns::rrtype::ANY, Udp, Outcome::Refused, "denied by acl rules[3]"},
    {"2001:db9::1", dns::rrtype::ANY, Tcp, Outcome::Refused, "denied by acl rules[3]"},
    // No rule matches: the query goes on.
    {"203.0.113.9", dns::rrtype::TXT, Udp, Outcome::PassedOn},
    {"2001:db9::1", dns::rrtype::AXFR, Tcp, Outcome::PassedOn},
};

class AclQuery : public ::testing::TestWithParam<Case> {};

TEST_P(AclQuery, FirstMatchingRuleDecides) {
  const Case& c = GetParam();
  test::ChainRunner runner(make_plugin(kRules));
  const test::Reply reply = runner.run({.qname = "example.org.",
                                        .qtype = c.qtype,
                                        .transport = c.transport,
                                        .edns_size = test::kResolverEdns,
                                        .client = c.client});
  switch (c.outcome) {
    case Outcome::PassedOn: {
      EXPECT_TRUE(reply.passed_on);
      EXPECT_FALSE(reply.dropped);
      // Nobody after the acl answers: the core's REFUSED, "Not Authoritative".
      const test::EdnsOption* ede = reply.option(dns::edns_option::EXTENDED_ERROR);
      ASSERT_NE(ede, nullptr);
      EXPECT_EQ(ede->data, (std::vector<uint8_t>{0, dns::extended_error::NotAuthoritative}));
      break;
    }
    case Outcome::Dropped:
      EXPECT_TRUE(reply.dropped);
      EXPECT_FALSE(reply.passed_on);
      break;
    case Outcome::Refused: {
      EXPECT_FALSE(reply.passed_on);
      EXPECT_EQ(reply.rcode, "REFUSED");
      EXPECT_FALSE(reply.aa);
      EXPECT_TRUE(reply.answer.empty() && reply.authority.empty());
      const test::EdnsOption* ede = reply.option(dns::edns_option::EXTENDED_ERROR);
      ASSERT_NE(ede, nullptr);
      const std::string refusal_text(c.refusal_text);
      std::vector<uint8_t> expected{0, dns::extended_error::Prohibited};
      expected.insert(expected.end(), refusal_text.begin(), refusal_text.end());
      EXPECT_EQ(ede->data, expected);
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Acl, AclQuery, ::testing::ValuesIn(kCases));

TEST(AclQuery, RefusalWithoutEdnsCarriesNoOpt) {
  test::ChainRunner runner(make_plugin(kRules));
  const test::Reply reply =
      runner.run({.qname = "example.org.", .qtype = dns::rrtype::AXFR, .transport = Tcp, .client = "192.0.2.7"});
  EXPECT_EQ(reply.rcode, "REFUSED");
  EXPECT_FALSE(reply.edns);  // RFC 6891 §7: no OPT in the answer to a query without one
  EXPECT_TRUE(reply.options.empty());
}

TEST(AclQuery, NoRulesPassesEverything) {
  test::ChainRunner runner(make_plugin("{}"));
  for (uint16_t qtype : {dns::rrtype::A, dns::rrtype::AXFR, dns::rrtype::ANY})
    for (const char* client : {"127.0.0.1", "::1", "192.0.2.1"})
      EXPECT_TRUE(runner.run({.qname = "example.org.", .qtype = qtype, .client = client}).passed_on);
}

}  // namespace
