// DNS answers of the mtasts plugin in both delegation modes (issue 3 "DNS answers"),
// decoded with ldns: qname, qtype -> rcode, AA, answer, negative SOA.
#include <algorithm>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "clock.h"
#include "config.h"
#include "plugin_test_support.h"
#include "mtasts_plugin.h"
#include "zone_records.h"
#include "store/policy_store.h"
#include "temp_store.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::mtasts {
namespace {

using namespace stsd::store;

using std::chrono::hours;
using std::chrono::seconds;
namespace rrtype = dns::rrtype;

constexpr int64_t kJan1 = 1735689600;   // 2025-01-01T00:00:00Z
constexpr int64_t kSetUp = kJan1 + 3600;

ConfigNode yaml(const std::string& text) {
  return ConfigNode(YAML::Load(text), std::make_shared<const std::filesystem::path>("test.yaml"), "mtasts");
}

const char* kNsConfig = R"(
nameservers: [ns1.provider.test., ns2.provider.test.]
hostmaster: hostmaster.provider.test.
ttl: 300
rotation: 1d
policy_host: { a: [192.0.2.10], aaaa: ["2001:db8::10"] }
)";

const char* kZoneConfig = R"(
service_zone: sts.provider.test.
nameservers: [ns1.provider.test., ns2.provider.test.]
hostmaster: hostmaster@provider.test
ttl: 300
negative_ttl: 60
rotation: 1d
policy_host: { a: [192.0.2.10], aaaa: ["2001:db8::10"] }
)";

// A query as a resolver sends it (with EDNS).
test::QuerySpec resolver_query(const std::string& qname, uint16_t qtype, uint16_t qclass = dns::rrclass::IN,
                               dns::Transport transport = dns::Transport::Udp) {
  return {qname, qtype, qclass, transport, test::kResolverEdns};
}

enum class Delegation { Ns, ServiceZone };

struct DnsCase {
  const char* name;
  Delegation delegation;
  const char* qname;
  uint16_t qtype;
  const char* rcode;                  // "" = passed to the next plugin
  std::vector<std::string> answer;    // "{id}" and "{serial}" are filled in
  const char* negative_soa_owner;     // owner of the authority SOA, "" = none
  uint16_t qclass = dns::rrclass::IN;
};
void PrintTo(const DnsCase& c, std::ostream* os) { *os << c.name; }


class DnsAnswers : public ::testing::TestWithParam<DnsCase> {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kSetUp)));
    state_ = std::make_shared<PolicyStore>(store_.db(), clock_);
    state_->add_domain("example.com", DomainSettings{{"mailto:tls@example.com"}, {}});
    const Policy policy{Mode::Enforce, {"mx1.example.com"}, 604800};
    state_->confirm("example.com", state_->stage("example.com", policy, false).version, true, "test");
    state_->add_domain("pending.example", {});
    state_->stage("pending.example", policy, false);
    id_ = policy_id(kJan1, hours(24), 1, policy_digest(policy));
    clock_->advance(seconds(60));
  }
  std::unique_ptr<MtastsPlugin> plugin(Delegation d) {
    return std::make_unique<MtastsPlugin>(parse_mtasts_config(yaml(d == Delegation::Ns ? kNsConfig : kZoneConfig)), state_);
  }
  // NS-delegated zones: the serial is the second after the TXT's last change (kSetUp + 1). The service zone's
  // domains rotate at their own offsets, so its serial is the current second.
  std::string fill(std::string text, int64_t serial = kSetUp + 1) const {
    for (auto [key, value] : {std::pair<std::string, std::string>{"{id}", id_}, {"{serial}", std::to_string(serial)}}) {
      for (size_t at; (at = text.find(key)) != std::string::npos;) text.replace(at, key.size(), value);
    }
    return text;
  }

  store::test_support::TempStore store_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<PolicyStore> state_;
  std::string id_;
};

const std::string kTxt = "300 IN TXT \"v=STSv1; id={id};\"";
// The default SOA timers (refresh 4h, retry 1h, expire 14d): none flagged by Zonemaster.
const std::string kSoa = "300 IN SOA ns1.provider.test. hostmaster.provider.test. {serial} 14400 3600 1209600";

std::vector<DnsCase> cases() {
  using D = Delegation;
  return {
      // --- NS delegation: each name is a zone apex delegated to us ---
      {"ns_txt", D::Ns, "_mta-sts.example.com.", rrtype::TXT, "NOERROR", {"_mta-sts.example.com. " + kTxt}, ""},
      {"ns_txt_keeps_query_case", D::Ns, "_MTA-STS.Example.COM.", rrtype::TXT, "NOERROR", {"_MTA-STS.Example.COM. " + kTxt}, ""},
      // ANY (RFC 8482 §4.1), as Knot: one RRset, the lowest type at the name (A < NS < SOA < TXT < AAAA).
      {"ns_any_gives_the_apex_ns", D::Ns, "_mta-sts.example.com.", rrtype::ANY, "NOERROR",
       {"_mta-sts.example.com. 300 IN NS ns1.provider.test.", "_mta-sts.example.com. 300 IN NS ns2.provider.test."}, ""},
      {"ns_any_nothing_confirmed_gives_ns", D::Ns, "_mta-sts.pending.example.", rrtype::ANY, "NOERROR",
       {"_mta-sts.pending.example. 300 IN NS ns1.provider.test.", "_mta-sts.pending.example. 300 IN NS ns2.provider.test."}, ""},
      {"ns_any_policy_host_gives_a", D::Ns, "mta-sts.example.com.", rrtype::ANY, "NOERROR",
       {"mta-sts.example.com. 300 IN A 192.0.2.10"}, ""},
      {"ns_apex_soa", D::Ns, "_mta-sts.example.com.", rrtype::SOA, "NOERROR", {"_mta-sts.example.com. " + kSoa + " 300"}, ""},
      {"ns_apex_ns", D::Ns, "_mta-sts.example.com.", rrtype::NS, "NOERROR",
       {"_mta-sts.example.com. 300 IN NS ns1.provider.test.", "_mta-sts.example.com. 300 IN NS ns2.provider.test."}, ""},
      {"ns_other_type_nodata", D::Ns, "_mta-sts.example.com.", rrtype::A, "NOERROR", {}, "_mta-sts.example.com."},
      {"ns_nothing_confirmed_nodata", D::Ns, "_mta-sts.pending.example.", rrtype::TXT, "NOERROR", {}, "_mta-sts.pending.example."},
      {"ns_below_apex_nxdomain", D::Ns, "x._mta-sts.example.com.", rrtype::TXT, "NXDOMAIN", {}, "_mta-sts.example.com."},
      {"ns_tlsrpt", D::Ns, "_smtp._tls.example.com.", rrtype::TXT, "NOERROR",
       {"_smtp._tls.example.com. 300 IN TXT \"v=TLSRPTv1; rua=mailto:tls@example.com\""}, ""},
      {"ns_tlsrpt_unset_nodata", D::Ns, "_smtp._tls.pending.example.", rrtype::TXT, "NOERROR", {}, "_smtp._tls.pending.example."},
      {"ns_policy_host_a", D::Ns, "mta-sts.example.com.", rrtype::A, "NOERROR", {"mta-sts.example.com. 300 IN A 192.0.2.10"}, ""},
      {"ns_policy_host_aaaa", D::Ns, "mta-sts.example.com.", rrtype::AAAA, "NOERROR", {"mta-sts.example.com. 300 IN AAAA 2001:db8::10"}, ""},
      {"ns_policy_host_txt_nodata", D::Ns, "mta-sts.example.com.", rrtype::TXT, "NOERROR", {}, "mta-sts.example.com."},
      {"ns_unknown_domain_passes", D::Ns, "_mta-sts.unknown.example.", rrtype::TXT, "", {}, ""},
      {"ns_domain_itself_passes", D::Ns, "example.com.", rrtype::TXT, "", {}, ""},
      {"ns_tls_without_smtp_passes", D::Ns, "_tls.example.com.", rrtype::TXT, "", {}, ""},
      {"ns_chaos_class_passes", D::Ns, "_mta-sts.example.com.", rrtype::TXT, "", {}, "", dns::rrclass::CH},
      {"ns_service_zone_name_passes", D::Ns, "_mta-sts.example.com.sts.provider.test.", rrtype::TXT, "", {}, ""},
      // --- CNAME target: we are authoritative for the service zone ---
      {"zone_txt", D::ServiceZone, "_mta-sts.example.com.sts.provider.test.", rrtype::TXT, "NOERROR",
       {"_mta-sts.example.com.sts.provider.test. " + kTxt}, ""},
      {"zone_tlsrpt", D::ServiceZone, "_smtp._tls.example.com.sts.provider.test.", rrtype::TXT, "NOERROR",
       {"_smtp._tls.example.com.sts.provider.test. 300 IN TXT \"v=TLSRPTv1; rua=mailto:tls@example.com\""}, ""},
      {"zone_policy_host_a", D::ServiceZone, "mta-sts.example.com.sts.provider.test.", rrtype::A, "NOERROR",
       {"mta-sts.example.com.sts.provider.test. 300 IN A 192.0.2.10"}, ""},
      {"zone_apex_soa", D::ServiceZone, "sts.provider.test.", rrtype::SOA, "NOERROR", {"sts.provider.test. " + kSoa + " 60"}, ""},
      {"zone_apex_ns", D::ServiceZone, "STS.provider.test.", rrtype::NS, "NOERROR",
       {"STS.provider.test. 300 IN NS ns1.provider.test.", "STS.provider.test. 300 IN NS ns2.provider.test."}, ""},
      {"zone_apex_txt_nodata", D::ServiceZone, "sts.provider.test.", rrtype::TXT, "NOERROR", {}, "sts.provider.test."},
      {"zone_owned_soa_nodata", D::ServiceZone, "_mta-sts.example.com.sts.provider.test.", rrtype::SOA, "NOERROR", {}, "sts.provider.test."},
      {"zone_nothing_confirmed_nodata", D::ServiceZone, "_mta-sts.pending.example.sts.provider.test.", rrtype::TXT, "NOERROR", {},
       "sts.provider.test."},
      {"zone_unknown_nxdomain", D::ServiceZone, "unknown.sts.provider.test.", rrtype::TXT, "NXDOMAIN", {}, "sts.provider.test."},
      {"zone_unknown_domain_nxdomain", D::ServiceZone, "_mta-sts.unknown.example.sts.provider.test.", rrtype::TXT, "NXDOMAIN", {},
       "sts.provider.test."},
      {"zone_below_owned_nxdomain", D::ServiceZone, "x._mta-sts.example.com.sts.provider.test.", rrtype::TXT, "NXDOMAIN", {},
       "sts.provider.test."},
      {"zone_domain_is_empty_non_terminal", D::ServiceZone, "example.com.sts.provider.test.", rrtype::TXT, "NOERROR", {},
       "sts.provider.test."},
      {"zone_ancestor_is_empty_non_terminal", D::ServiceZone, "com.sts.provider.test.", rrtype::A, "NOERROR", {}, "sts.provider.test."},
      {"zone_tls_is_empty_non_terminal", D::ServiceZone, "_tls.example.com.sts.provider.test.", rrtype::TXT, "NOERROR", {},
       "sts.provider.test."},
      {"zone_ns_delegation_still_served", D::ServiceZone, "_mta-sts.example.com.", rrtype::TXT, "NOERROR",
       {"_mta-sts.example.com. " + kTxt}, ""},
      {"zone_any_at_apex_gives_ns", D::ServiceZone, "sts.provider.test.", rrtype::ANY, "NOERROR",
       {"sts.provider.test. 300 IN NS ns1.provider.test.", "sts.provider.test. 300 IN NS ns2.provider.test."}, ""},
      {"zone_any_gives_the_txt", D::ServiceZone, "_mta-sts.example.com.sts.provider.test.", rrtype::ANY, "NOERROR",
       {"_mta-sts.example.com.sts.provider.test. " + kTxt}, ""},
      {"zone_any_policy_host_gives_a", D::ServiceZone, "mta-sts.example.com.sts.provider.test.", rrtype::ANY, "NOERROR",
       {"mta-sts.example.com.sts.provider.test. 300 IN A 192.0.2.10"}, ""},
      {"zone_any_nothing_confirmed_nodata", D::ServiceZone, "_mta-sts.pending.example.sts.provider.test.", rrtype::ANY,
       "NOERROR", {}, "sts.provider.test."},
      {"zone_any_tlsrpt_unset_nodata", D::ServiceZone, "_smtp._tls.pending.example.sts.provider.test.", rrtype::ANY,
       "NOERROR", {}, "sts.provider.test."},
      {"zone_outside_passes", D::ServiceZone, "www.provider.test.", rrtype::A, "", {}, ""},
  };
}

TEST_P(DnsAnswers, Table) {
  const auto& c = GetParam();
  auto p = plugin(c.delegation);
  const auto reply = test::ask(*p, resolver_query(c.qname, c.qtype, c.qclass));
  if (!*c.rcode) {
    EXPECT_TRUE(reply.passed_on) << "expected the query to go to the next plugin";
    return;
  }
  EXPECT_FALSE(reply.passed_on);
  EXPECT_EQ(reply.rcode, c.rcode);
  EXPECT_TRUE(reply.aa) << "authoritative answers set AA";
  // example.com was added and confirmed within kSetUp's second: its TXT's second change is
  // stamped a second later (Transaction::change_stamp), and the serial is the one after.
  std::string zone = c.qname;
  std::transform(zone.begin(), zone.end(), zone.begin(), [](unsigned char ch) { return std::tolower(ch); });
  const bool confirmed_txt_zone = zone.ends_with("_mta-sts.example.com.");
  const int64_t serial = c.delegation == Delegation::ServiceZone ? unix_seconds(clock_->now())
                         : confirmed_txt_zone ? state_->served("example.com")->txt_changed_at + 1
                                              : kSetUp + 1;
  if (confirmed_txt_zone && c.delegation == Delegation::Ns) {
    EXPECT_EQ(serial, kSetUp + 2);
  }
  std::vector<std::string> expected;
  for (const auto& a : c.answer) expected.push_back(fill(a, serial));
  EXPECT_EQ(reply.answer, expected);
  if (*c.negative_soa_owner) {
    ASSERT_EQ(reply.authority.size(), 1u);
    const uint32_t negative_ttl = c.delegation == Delegation::ServiceZone ? 60 : 300;
    EXPECT_EQ(reply.authority[0], fill(std::string(c.negative_soa_owner) + " " + std::to_string(negative_ttl) +
                                       " IN SOA ns1.provider.test. hostmaster.provider.test. {serial} 14400 3600 1209600 " +
                                       std::to_string(negative_ttl),
                                   serial));
  } else {
    EXPECT_TRUE(reply.authority.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Both, DnsAnswers, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

class DnsChanges : public DnsAnswers {};

TEST_F(DnsChanges, SerialAndIdChangeWithTheTxt) {
  auto p = plugin(Delegation::Ns);
  const auto first = test::ask(*p, resolver_query("_mta-sts.example.com.", rrtype::SOA));
  const auto txt1 = test::ask(*p, resolver_query("_mta-sts.example.com.", rrtype::TXT));
  clock_->advance(hours(24));   // next period
  const auto second = test::ask(*p, resolver_query("_mta-sts.example.com.", rrtype::SOA));
  const auto txt2 = test::ask(*p, resolver_query("_mta-sts.example.com.", rrtype::TXT));
  EXPECT_NE(txt1.answer, txt2.answer);
  EXPECT_NE(first.soa_serial, second.soa_serial);
  // example.com rotates at 17:40:06 UTC (its offset): the new period started then.
  EXPECT_EQ(second.soa_serial, std::to_string(kJan1 + 63606));
  clock_->advance(seconds(10));
  state_->confirm("example.com", state_->stage("example.com", Policy{Mode::Enforce, {"mx2.example.com"}, 604800}, false).version,
                  false, "", "seen");
  const auto third = test::ask(*p, resolver_query("_mta-sts.example.com.", rrtype::SOA));
  const auto txt3 = test::ask(*p, resolver_query("_mta-sts.example.com.", rrtype::TXT));
  EXPECT_NE(txt3.answer, txt2.answer);
  EXPECT_NE(third.soa_serial, second.soa_serial);
}

TEST_F(DnsChanges, StagingAloneChangesNothingServed) {
  auto p = plugin(Delegation::ServiceZone);
  const auto before = test::ask(*p, resolver_query("_mta-sts.example.com.sts.provider.test.", rrtype::TXT));
  state_->stage("example.com", Policy{Mode::Testing, {"mx9.example.com"}, 604800}, false);
  const auto after = test::ask(*p, resolver_query("_mta-sts.example.com.sts.provider.test.", rrtype::TXT));
  EXPECT_EQ(before.answer, after.answer);
}

TEST_F(DnsChanges, RemovedDomainIsNoLongerOwned) {
  auto p = plugin(Delegation::Ns);
  state_->remove_domain("example.com", store::RemovalCheck::Force);  // its enforce policy is confirmed
  EXPECT_TRUE(test::ask(*p, resolver_query("_mta-sts.example.com.", rrtype::TXT)).passed_on);
}

TEST_F(DnsChanges, OverTcpToo) {
  auto p = plugin(Delegation::Ns);
  const auto reply =
      test::ask(*p, resolver_query("_mta-sts.example.com.", rrtype::TXT, dns::rrclass::IN, dns::Transport::Tcp));
  EXPECT_EQ(reply.answer, std::vector<std::string>{fill("_mta-sts.example.com. " + kTxt)});
}

// RFC 8482 §4.1: ANY is answered alike over UDP and TCP (as Knot), at every kind of name.
TEST_F(DnsChanges, AnyIsTheSameOverUdpAndTcp) {
  for (const auto delegation : {Delegation::Ns, Delegation::ServiceZone}) {
    auto p = plugin(delegation);
    for (const std::string prefix : {"_mta-sts.", "_smtp._tls.", "mta-sts."}) {
      for (const std::string domain : {"example.com.", "pending.example."}) {
        const std::string qname =
            prefix + domain + (delegation == Delegation::ServiceZone ? "sts.provider.test." : "");
        const auto udp = test::ask(*p, resolver_query(qname, rrtype::ANY));
        const auto tcp = test::ask(*p, resolver_query(qname, rrtype::ANY, dns::rrclass::IN, dns::Transport::Tcp));
        EXPECT_EQ(udp.rcode, "NOERROR") << qname;
        EXPECT_EQ(udp.answer, tcp.answer) << qname;
        EXPECT_EQ(udp.authority, tcp.authority) << qname;
        std::set<std::string> types;  // "owner ttl class type rdata": the fourth word
        for (const auto& record : udp.answer) {
          std::istringstream words(record);
          std::string owner, ttl, rclass, type;
          words >> owner >> ttl >> rclass >> type;
          types.insert(type);
        }
        EXPECT_LE(types.size(), 1u) << qname << ": one RRset";
      }
    }
  }
}

// tlsrpt_rua_default stands in for every domain without rua of its own (pending.example
// here); a domain's own rua wins; and it moves the config digest (so every serial) only
// when set.
TEST_F(DnsChanges, DefaultRuaForDomainsWithoutTheirOwn) {
  const std::string rua = "tlsrpt_rua_default: [\"https://rpt.provider.test/v1\", \"mailto:tls@provider.test\"]\n";
  const auto with_default = parse_mtasts_config(yaml(std::string(kZoneConfig) + rua));
  MtastsPlugin p(with_default, state_);
  const std::string record = "300 IN TXT \"v=TLSRPTv1; rua=https://rpt.provider.test/v1,mailto:tls@provider.test\"";
  EXPECT_EQ(test::ask(p, resolver_query("_smtp._tls.pending.example.sts.provider.test.", rrtype::TXT)).answer,
            std::vector<std::string>{"_smtp._tls.pending.example.sts.provider.test. " + record});
  EXPECT_EQ(test::ask(p, resolver_query("_smtp._tls.pending.example.sts.provider.test.", rrtype::ANY)).answer,
            std::vector<std::string>{"_smtp._tls.pending.example.sts.provider.test. " + record});
  EXPECT_EQ(test::ask(p, resolver_query("_smtp._tls.example.com.sts.provider.test.", rrtype::TXT)).answer,
            std::vector<std::string>{"_smtp._tls.example.com.sts.provider.test. 300 IN TXT \"v=TLSRPTv1; rua=mailto:tls@example.com\""});
  const auto plain = parse_mtasts_config(yaml(kZoneConfig));
  EXPECT_TRUE(test::ask(*plugin(Delegation::ServiceZone), resolver_query("_smtp._tls.pending.example.sts.provider.test.", rrtype::TXT))
                  .answer.empty());
  EXPECT_NE(zone_config_digest(with_default), zone_config_digest(plain));
  auto other = with_default;
  other.tlsrpt_rua_default.pop_back();
  EXPECT_NE(zone_config_digest(with_default), zone_config_digest(other));
}

TEST_F(DnsChanges, SoaTimersComeFromTheConfig) {
  const auto config = parse_mtasts_config(yaml(std::string(kNsConfig) + "soa_refresh: 1d\nsoa_retry: 7200\nsoa_expire: 28d\n"));
  MtastsPlugin p(config, state_);
  const int64_t serial = state_->served("example.com")->txt_changed_at + 1;
  EXPECT_EQ(test::ask(p, resolver_query("_mta-sts.example.com.", rrtype::SOA)).answer,
            std::vector<std::string>{fill("_mta-sts.example.com. 300 IN SOA ns1.provider.test. hostmaster.provider.test. "
                                          "{serial} 86400 7200 2419200 300", serial)});
  const auto negative = test::ask(p, resolver_query("mta-sts.pending.example.", rrtype::TXT));
  ASSERT_EQ(negative.authority.size(), 1u);
  EXPECT_NE(negative.authority[0].find(" 86400 7200 2419200 300"), std::string::npos) << negative.authority[0];
}

struct ConfigCase {
  const char* name;
  std::string yaml;
  const char* expect;   // substring of the error; "" = valid
};
void PrintTo(const ConfigCase& c, std::ostream* os) { *os << c.name; }

class MtastsConfigCheck : public ::testing::TestWithParam<ConfigCase> {};
TEST_P(MtastsConfigCheck, ErrorsNameTheKey) {
  const auto& c = GetParam();
  if (!*c.expect) {
    EXPECT_NO_THROW(parse_mtasts_config(yaml(c.yaml)));
    return;
  }
  try {
    parse_mtasts_config(yaml(c.yaml));
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.yaml:"), std::string::npos) << e.what();
  }
}
INSTANTIATE_TEST_SUITE_P(
    Table, MtastsConfigCheck,
    ::testing::Values(
        ConfigCase{"minimal", "nameservers: [ns1.provider.test.]", ""},
        ConfigCase{"hours_rotation", "nameservers: ns1.provider.test\nrotation: 1h", ""},
        ConfigCase{"missing_nameservers", "ttl: 300", "nameservers"},
        ConfigCase{"unknown_key", "nameservers: [ns1.provider.test.]\nzone: x.", "unknown key 'zone'"},
        ConfigCase{"bad_rotation", "nameservers: [ns1.provider.test.]\nrotation: 1w", "duration"},
        ConfigCase{"zero_rotation", "nameservers: [ns1.provider.test.]\nrotation: 0s", "between 1s and 31d"},
        ConfigCase{"ttl_too_big", "nameservers: [ns1.provider.test.]\nttl: 4294967295", "out of range"},
        ConfigCase{"a_gets_ipv6", "nameservers: [ns1.provider.test.]\npolicy_host: {a: [\"2001:db8::1\"]}", "IPv4"},
        ConfigCase{"aaaa_gets_ipv4", "nameservers: [ns1.provider.test.]\npolicy_host: {aaaa: [192.0.2.1]}", "IPv6"},
        ConfigCase{"policy_host_unknown", "nameservers: [ns1.provider.test.]\npolicy_host: {cname: x.}", "unknown key"},
        ConfigCase{"nothing_to_serve", "nameservers: [ns1.provider.test.]\nns_delegation: false", "nothing to serve"},
        ConfigCase{"ns_inside_service_zone", "service_zone: sts.provider.test.\nnameservers: [ns1.sts.provider.test.]",
                   "inside the service zone"},
        ConfigCase{"serial_step", "nameservers: [ns1.provider.test.]\nserial_step: 5m", ""},
        ConfigCase{"zero_serial_step", "nameservers: [ns1.provider.test.]\nserial_step: 0s", "serial_step must be between 1s and 1h"},
        ConfigCase{"long_serial_step", "nameservers: [ns1.provider.test.]\nserial_step: 2h", "serial_step must be between 1s and 1h"},
        ConfigCase{"bad_serial_step", "nameservers: [ns1.provider.test.]\nserial_step: soon", "duration"},
        ConfigCase{"soa_timers", "nameservers: [ns1.provider.test.]\nsoa_refresh: 6h\nsoa_retry: 1h\nsoa_expire: 14d", ""},
        ConfigCase{"soa_timers_in_seconds", "nameservers: [ns1.provider.test.]\nsoa_refresh: 86400\nsoa_expire: 86400", ""},
        ConfigCase{"zero_soa_retry", "nameservers: [ns1.provider.test.]\nsoa_retry: 0", "must be between 1s and 2147483647s"},
        ConfigCase{"huge_soa_expire", "nameservers: [ns1.provider.test.]\nsoa_expire: 2147483648", "must be between 1s"},
        ConfigCase{"bad_soa_refresh", "nameservers: [ns1.provider.test.]\nsoa_refresh: often", "duration"},
        ConfigCase{"expire_before_refresh", "nameservers: [ns1.provider.test.]\nsoa_refresh: 2d\nsoa_expire: 1d",
                   "soa_expire (86400s) is shorter than soa_refresh (172800s)"},
        ConfigCase{"refresh_beyond_default_expire", "nameservers: [ns1.provider.test.]\nsoa_refresh: 30d",
                   "secondaries would drop the zone before refreshing it"},
        ConfigCase{"bad_hostmaster", "nameservers: [ns1.provider.test.]\nhostmaster: a.b@provider.test", "hostmaster"},
        ConfigCase{"rua_default", "nameservers: [ns1.provider.test.]\ntlsrpt_rua_default: [\"https://rpt.provider.test/v1\", \"mailto:tls@provider.test\"]", ""},
        ConfigCase{"rua_default_empty", "nameservers: [ns1.provider.test.]\ntlsrpt_rua_default: []", "give at least one URI"},
        ConfigCase{"rua_default_scheme", "nameservers: [ns1.provider.test.]\ntlsrpt_rua_default: [\"http://rpt.provider.test/\"]",
                   "must be a mailto: or https: URI (RFC 8460 §3)"},
        ConfigCase{"rua_default_comma", "nameservers: [ns1.provider.test.]\ntlsrpt_rua_default: [\"mailto:a,b@provider.test\"]",
                   "contains ','"},
        ConfigCase{"rua_default_too_long", "nameservers: [ns1.provider.test.]\ntlsrpt_rua_default: [\"https://rpt.provider.test/" +
                   std::string(240, 'x') + "\"]", "longer than 255 characters"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MtastsConfigCheck, HostmasterDefaultsFromTheServiceZone) {
  auto config = parse_mtasts_config(yaml("service_zone: sts.provider.test.\nnameservers: [ns1.provider.test.]"));
  EXPECT_EQ(config.hostmaster.to_text(), "hostmaster.sts.provider.test.");
  EXPECT_EQ(name_room_needed(config), 11u + config.service_zone->size() - 1);
  EXPECT_EQ(config.serial_step, std::chrono::seconds(60));  // the default
  EXPECT_EQ(config.soa_refresh, 14400u);
  EXPECT_EQ(config.soa_retry, 3600u);
  EXPECT_EQ(config.soa_expire, 1209600u);
}

}  // namespace
}  // namespace stsd::mtasts
// clang-format on
