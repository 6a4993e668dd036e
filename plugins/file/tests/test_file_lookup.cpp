// Table-driven lookups against tests/data/lookup.zone: qname, qtype → rcode, flags,
// answer, authority, additional (RFC 1034 §4.3.2, RFC 2308, RFC 4592, RFC 6604,
// RFC 8020, RFC 8482, RFC 9471).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "dns/types.h"
#include "file_plugin.h"
#include "plugin_test_support.h"
#include "temp_dir.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

using namespace stsd;
using stsd::test::ChainRunner;
using stsd::test::QuerySpec;
using stsd::test::Reply;

namespace {
const std::filesystem::path kDataDir = std::filesystem::path(STSD_SOURCE_DIR) / "plugins/file/tests/data";

using Lines = std::vector<std::string>;

// The negative-answer SOA: TTL = min(SOA TTL 3600, MINIMUM 300) (RFC 2308 §3).
const std::string kNegativeSoa =
    "example.org. 300 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 900 1209600 300";
const Lines kSubReferral = {
    "sub.example.org. 3600 IN NS ns1.sub.example.org.",
    "sub.example.org. 3600 IN NS ns.elsewhere.net.",
    "sub.example.org. 3600 IN NS ns2.example.org.",
};
const Lines kSubGlue = {
    "ns1.sub.example.org. 3600 IN A 192.0.2.53",
    "ns1.sub.example.org. 3600 IN AAAA 2001:db8::53",
    "ns2.example.org. 600 IN A 192.0.2.2",
    "ns2.example.org. 3600 IN AAAA 2001:db8::2",
};

struct LookupCase {
  const char* behaviour;
  const char* qname;
  const char* qtype;
  const char* rcode;
  const char* flags;
  Lines answer;
  Lines authority;
  Lines additional;
  dns::Transport transport = dns::Transport::Udp;
};

std::ostream& operator<<(std::ostream& out, const LookupCase& c) { return out << c.behaviour; }

const LookupCase kCases[] = {
    // Exact matches at the apex and below it.
    {"apex_soa", "example.org.", "SOA", "NOERROR", "qr aa rd",
     {"example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 900 1209600 300"}, {}, {}},
    {"apex_ns_with_addresses_in_additional", "example.org.", "NS", "NOERROR", "qr aa rd",
     {"example.org. 3600 IN NS ns1.example.org.", "example.org. 3600 IN NS ns2.example.org."},
     {},
     {"ns1.example.org. 3600 IN A 192.0.2.1", "ns2.example.org. 600 IN A 192.0.2.2",
      "ns2.example.org. 3600 IN AAAA 2001:db8::2"}},
    {"mx_target_addresses_once", "example.org.", "MX", "NOERROR", "qr aa rd",
     {"example.org. 3600 IN MX 10 mail.example.org.", "example.org. 3600 IN MX 20 mail.example.org."},
     {},
     {"mail.example.org. 3600 IN A 192.0.2.25"}},
    {"apex_txt", "example.org.", "TXT", "NOERROR", "qr aa rd", {"example.org. 3600 IN TXT \"v=spf1 -all\""}, {}, {}},
    {"exact_a", "www.example.org.", "A", "NOERROR", "qr aa rd", {"www.example.org. 3600 IN A 192.0.2.80"}, {}, {}},
    {"exact_aaaa", "www.example.org.", "AAAA", "NOERROR", "qr aa rd",
     {"www.example.org. 3600 IN AAAA 2001:db8::80"}, {}, {}},
    {"per_record_ttl", "ns2.example.org.", "A", "NOERROR", "qr aa rd", {"ns2.example.org. 600 IN A 192.0.2.2"}, {}, {}},
    {"owner_echoes_client_case", "WwW.Example.ORG.", "A", "NOERROR", "qr aa rd",
     {"WwW.Example.ORG. 3600 IN A 192.0.2.80"}, {}, {}},

    // Negative answers (RFC 2308): SOA in authority with the capped TTL.
    {"nodata_has_soa", "www.example.org.", "TXT", "NOERROR", "qr aa rd", {}, {kNegativeSoa}, {}},
    {"nxdomain_has_soa", "nope.example.org.", "A", "NXDOMAIN", "qr aa rd", {}, {kNegativeSoa}, {}},
    {"nxdomain_deep", "a.b.nope.example.org.", "A", "NXDOMAIN", "qr aa rd", {}, {kNegativeSoa}, {}},
    {"empty_non_terminal_is_nodata", "b.c.example.org.", "A", "NOERROR", "qr aa rd", {}, {kNegativeSoa}, {}},
    {"empty_non_terminal_top_is_nodata", "c.example.org.", "TXT", "NOERROR", "qr aa rd", {}, {kNegativeSoa}, {}},
    {"below_empty_non_terminal_is_nxdomain", "z.b.c.example.org.", "A", "NXDOMAIN", "qr aa rd", {}, {kNegativeSoa}, {}},
    {"full_name_below_ent", "a.b.c.example.org.", "A", "NOERROR", "qr aa rd",
     {"a.b.c.example.org. 3600 IN A 192.0.2.9"}, {}, {}},

    // CNAME (RFC 1034 §3.6.2, §4.3.2; RFC 6604).
    {"cname_followed", "alias.example.org.", "A", "NOERROR", "qr aa rd",
     {"alias.example.org. 3600 IN CNAME www.example.org.", "www.example.org. 3600 IN A 192.0.2.80"}, {}, {}},
    {"cname_followed_aaaa", "alias.example.org.", "AAAA", "NOERROR", "qr aa rd",
     {"alias.example.org. 3600 IN CNAME www.example.org.", "www.example.org. 3600 IN AAAA 2001:db8::80"}, {}, {}},
    {"cname_query_not_followed", "alias.example.org.", "CNAME", "NOERROR", "qr aa rd",
     {"alias.example.org. 3600 IN CNAME www.example.org."}, {}, {}},
    {"cname_target_nodata", "alias.example.org.", "TXT", "NOERROR", "qr aa rd",
     {"alias.example.org. 3600 IN CNAME www.example.org."}, {kNegativeSoa}, {}},
    {"cname_chain", "chain1.example.org.", "A", "NOERROR", "qr aa rd",
     {"chain1.example.org. 3600 IN CNAME chain2.example.org.", "chain2.example.org. 3600 IN CNAME www.example.org.",
      "www.example.org. 3600 IN A 192.0.2.80"},
     {},
     {}},
    {"cname_to_missing_name_is_nxdomain", "dangling.example.org.", "A", "NXDOMAIN", "qr aa rd",
     {"dangling.example.org. 3600 IN CNAME missing.example.org."}, {kNegativeSoa}, {}},
    {"cname_out_of_zone_not_followed", "away.example.org.", "A", "NOERROR", "qr aa rd",
     {"away.example.org. 3600 IN CNAME www.example.net."}, {}, {}},
    {"cname_loop_stops", "loop1.example.org.", "A", "NOERROR", "qr aa rd",
     {"loop1.example.org. 3600 IN CNAME loop2.example.org.", "loop2.example.org. 3600 IN CNAME loop1.example.org."},
     {},
     {}},
    {"cname_into_delegation_gives_referral", "into-sub.example.org.", "A", "NOERROR", "qr aa rd",
     {"into-sub.example.org. 3600 IN CNAME host.sub.example.org."}, kSubReferral, kSubGlue},

    // Wildcards (RFC 4592).
    {"wildcard_synthesizes_qname_owner", "foo.wild.example.org.", "A", "NOERROR", "qr aa rd",
     {"foo.wild.example.org. 3600 IN A 192.0.2.99"}, {}, {}},
    {"wildcard_covers_several_labels", "a.b.wild.example.org.", "TXT", "NOERROR", "qr aa rd",
     {"a.b.wild.example.org. 3600 IN TXT \"from the wildcard\""}, {}, {}},
    {"wildcard_nodata", "foo.wild.example.org.", "AAAA", "NOERROR", "qr aa rd", {}, {kNegativeSoa}, {}},
    {"wildcard_not_applied_to_existing_name", "exists.wild.example.org.", "A", "NOERROR", "qr aa rd", {},
     {kNegativeSoa}, {}},
    {"wildcard_not_applied_below_existing_name", "x.exists.wild.example.org.", "A", "NXDOMAIN", "qr aa rd", {},
     {kNegativeSoa}, {}},
    {"wildcard_not_applied_to_empty_non_terminal", "ent.wild.example.org.", "A", "NOERROR", "qr aa rd", {},
     {kNegativeSoa}, {}},
    {"wildcard_not_applied_below_empty_non_terminal", "y.ent.wild.example.org.", "A", "NXDOMAIN", "qr aa rd", {},
     {kNegativeSoa}, {}},
    {"literal_asterisk_query", "*.wild.example.org.", "TXT", "NOERROR", "qr aa rd",
     {"*.wild.example.org. 3600 IN TXT \"from the wildcard\""}, {}, {}},
    {"wildcard_cname_followed", "foo.walias.example.org.", "A", "NOERROR", "qr aa rd",
     {"foo.walias.example.org. 3600 IN CNAME www.example.org.", "www.example.org. 3600 IN A 192.0.2.80"}, {}, {}},

    // Delegations (RFC 1034 §4.3.2 step 3b, RFC 9471, RFC 4035 §3.1.4.1).
    {"referral_below_cut", "host.sub.example.org.", "A", "NOERROR", "qr rd", {}, kSubReferral, kSubGlue},
    {"referral_at_cut", "sub.example.org.", "A", "NOERROR", "qr rd", {}, kSubReferral, kSubGlue},
    {"ns_query_at_cut_is_referral", "sub.example.org.", "NS", "NOERROR", "qr rd", {}, kSubReferral, kSubGlue},
    {"glue_name_is_referral", "ns1.sub.example.org.", "A", "NOERROR", "qr rd", {}, kSubReferral, kSubGlue},
    {"ds_at_cut_without_ds_is_nodata", "sub.example.org.", "DS", "NOERROR", "qr aa rd", {}, {kNegativeSoa}, {}},
    {"ds_at_cut_answered_by_parent", "signed.example.org.", "DS", "NOERROR", "qr aa rd",
     {"signed.example.org. 3600 IN DS 12345 13 2 3c1b7b8e1b3e7e0a8b0d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"},
     {},
     {}},
    {"ds_below_cut_is_referral", "x.signed.example.org.", "DS", "NOERROR", "qr rd", {},
     {"signed.example.org. 3600 IN NS ns.signed.example.org."}, {"ns.signed.example.org. 3600 IN A 192.0.2.54"}},
    {"referral_without_room_for_required_glue_is_truncated", "host.big.example.org.", "A", "NOERROR", "qr tc rd", {},
     {}, {}},

    // ANY (RFC 8482), as Knot: the RRset of the lowest type, with that type's additional
    // records, the same over UDP and TCP (e2e_conformance compares with knotd).
    {"any_over_udp_is_one_rrset", "www.example.org.", "ANY", "NOERROR", "qr aa rd",
     {"www.example.org. 3600 IN A 192.0.2.80"}, {}, {}},
    {"any_over_tcp_is_the_same_rrset", "www.example.org.", "ANY", "NOERROR", "qr aa rd",
     {"www.example.org. 3600 IN A 192.0.2.80"}, {}, {}, dns::Transport::Tcp},
    {"any_at_apex_is_ns_with_addresses", "example.org.", "ANY", "NOERROR", "qr aa rd",
     {"example.org. 3600 IN NS ns1.example.org.", "example.org. 3600 IN NS ns2.example.org."},
     {},
     {"ns1.example.org. 3600 IN A 192.0.2.1", "ns2.example.org. 600 IN A 192.0.2.2",
      "ns2.example.org. 3600 IN AAAA 2001:db8::2"}},
    {"any_at_apex_over_tcp_too", "example.org.", "ANY", "NOERROR", "qr aa rd",
     {"example.org. 3600 IN NS ns1.example.org.", "example.org. 3600 IN NS ns2.example.org."},
     {},
     {"ns1.example.org. 3600 IN A 192.0.2.1", "ns2.example.org. 600 IN A 192.0.2.2",
      "ns2.example.org. 3600 IN AAAA 2001:db8::2"},
     dns::Transport::Tcp},
    {"any_at_cut_is_referral", "sub.example.org.", "ANY", "NOERROR", "qr rd", {}, kSubReferral, kSubGlue},
    {"any_at_cname_returns_cname", "alias.example.org.", "ANY", "NOERROR", "qr aa rd",
     {"alias.example.org. 3600 IN CNAME www.example.org."}, {}, {}},
    {"any_at_empty_non_terminal_is_nodata", "c.example.org.", "ANY", "NOERROR", "qr aa rd", {}, {kNegativeSoa}, {}},

    // Master file syntax.
    {"class_before_ttl_with_units", "order.example.org.", "TXT", "NOERROR", "qr aa rd",
     {"order.example.org. 5400 IN TXT \"class before TTL, TTL with units\""}, {}, {}},

    // $INCLUDE with an origin; the including file's origin and $TTL come back after it.
    {"include_origin_and_ttl", "inc.example.org.", "TXT", "NOERROR", "qr aa rd",
     {"inc.example.org. 120 IN TXT \"included\""}, {}, {}},
    {"include_relative_owner", "host.inc.example.org.", "A", "NOERROR", "qr aa rd",
     {"host.inc.example.org. 120 IN A 192.0.2.120"}, {}, {}},
    {"after_include_origin_reverts", "after-include.example.org.", "A", "NOERROR", "qr aa rd",
     {"after-include.example.org. 3600 IN A 192.0.2.121"}, {}, {}},

};

class FileLookup : public ::testing::TestWithParam<LookupCase> {
 protected:
  static void SetUpTestSuite() {
    test::SetupFixture fixture;
    const auto config = test::yaml_node("- { zone: example.org., path: lookup.zone }", "servers[0].plugins.file",
                                        kDataDir / "stsd.yaml");
    auto setup = fixture.setup(config);
    runner_ = new ChainRunner(file::make_file_plugin(setup));
  }
  static void TearDownTestSuite() {
    delete runner_;
    runner_ = nullptr;
  }
  static ChainRunner* runner_;
};
ChainRunner* FileLookup::runner_ = nullptr;

TEST_P(FileLookup, Answers) {
  const LookupCase& c = GetParam();
  QuerySpec spec;
  spec.qname = c.qname;
  spec.qtype = *dns::type_from_string(c.qtype);
  spec.transport = c.transport;
  const Reply reply = runner_->run(spec);
  EXPECT_FALSE(reply.passed_on);
  EXPECT_EQ(reply.rcode, c.rcode);
  EXPECT_EQ(reply.flags, c.flags);
  EXPECT_EQ(reply.answer, c.answer);
  EXPECT_EQ(reply.authority, c.authority);
  EXPECT_EQ(reply.additional, c.additional);
}

INSTANTIATE_TEST_SUITE_P(Zone, FileLookup, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<LookupCase>& info) { return std::string(info.param.behaviour); });

// The truncated referral fits over TCP, with all twelve glue addresses.
TEST(FileLookupTcp, RequiredGlueFitsOverTcp) {
  test::SetupFixture fixture;
  const auto config = test::yaml_node("- { zone: example.org., path: lookup.zone }", "file", kDataDir / "stsd.yaml");
  auto setup = fixture.setup(config);
  ChainRunner runner(file::make_file_plugin(setup));
  const Reply reply = runner.run({"host.big.example.org.", dns::rrtype::A, dns::rrclass::IN, dns::Transport::Tcp, {}});
  EXPECT_EQ(reply.flags, "qr rd");
  EXPECT_EQ(reply.authority.size(), 12u);
  EXPECT_EQ(reply.additional.size(), 12u);
}

// With EDNS, the larger buffer holds the whole referral (RFC 6891 §6.2.5).
TEST(FileLookupEdns, LargerBufferAvoidsTruncation) {
  test::SetupFixture fixture;
  const auto config = test::yaml_node("- { zone: example.org., path: lookup.zone }", "file", kDataDir / "stsd.yaml");
  auto setup = fixture.setup(config);
  ChainRunner runner(file::make_file_plugin(setup));
  const Reply reply = runner.run({"host.big.example.org.", dns::rrtype::A, dns::rrclass::IN, dns::Transport::Udp, 1232});
  EXPECT_EQ(reply.flags, "qr rd");
  EXPECT_EQ(reply.authority.size(), 12u);
  EXPECT_EQ(reply.additional.size(), 12u);  // ldns keeps the OPT apart from the section
}

// Names outside every zone, and other classes, go to the next plugin.
TEST(FileLookupPassing, OutsideZonesAndOtherClassesPassOn) {
  test::SetupFixture fixture;
  const auto config = test::yaml_node("- { zone: example.org., path: lookup.zone }", "file", kDataDir / "stsd.yaml");
  auto setup = fixture.setup(config);
  ChainRunner runner(file::make_file_plugin(setup));

  Reply outside = runner.run({"www.example.net.", dns::rrtype::A, dns::rrclass::IN, dns::Transport::Udp, {}});
  EXPECT_TRUE(outside.passed_on);
  EXPECT_EQ(outside.rcode, "REFUSED");  // the core's answer when nobody answers

  Reply suffix_only = runner.run({"notexample.org.", dns::rrtype::A, dns::rrclass::IN, dns::Transport::Udp, {}});
  EXPECT_TRUE(suffix_only.passed_on);

  Reply chaos = runner.run({"www.example.org.", dns::rrtype::TXT, dns::rrclass::CH, dns::Transport::Udp, {}});
  EXPECT_TRUE(chaos.passed_on);
  EXPECT_EQ(chaos.rcode, "REFUSED");
}

// Zone transfers go to the next plugin (the `transfer` plugin answers them; without it
// the core refuses them), inside a zone and at its apex, over both transports.
TEST(FileLookupPassing, TransfersPassOn) {
  test::SetupFixture fixture;
  const auto config = test::yaml_node("- { zone: example.org., path: lookup.zone }", "file", kDataDir / "stsd.yaml");
  auto setup = fixture.setup(config);
  ChainRunner runner(file::make_file_plugin(setup));
  for (const uint16_t qtype : {dns::rrtype::AXFR, dns::rrtype::IXFR})
    for (const char* qname : {"example.org.", "www.example.org."})
      for (const auto transport : {dns::Transport::Tcp, dns::Transport::Udp}) {
        const Reply reply = runner.run({qname, qtype, dns::rrclass::IN, transport, {}});
        EXPECT_TRUE(reply.passed_on) << qname << " " << qtype;
        EXPECT_EQ(reply.rcode, "REFUSED");
        EXPECT_TRUE(reply.answer.empty());
      }
}

// Two zones in one plugin: the longest suffix wins, and a DS query for the child's
// apex is answered from the parent's side of the cut.
TEST(FileLookupZones, LongestSuffixAndDsFromParent) {
  test::SetupFixture fixture;
  const auto config = test::yaml_node(
      "- { zone: example.org, path: lookup.zone }\n"
      "- { zone: child.example.org., path: child.zone }\n",
      "file", kDataDir / "stsd.yaml");
  auto setup = fixture.setup(config);
  ChainRunner runner(file::make_file_plugin(setup));

  Reply child = runner.run({"www.child.example.org.", dns::rrtype::A, dns::rrclass::IN, dns::Transport::Udp, {}});
  EXPECT_EQ(child.flags, "qr aa rd");
  EXPECT_EQ(child.answer, Lines{"www.child.example.org. 1800 IN A 192.0.2.61"});

  Reply child_soa = runner.run({"child.example.org.", dns::rrtype::SOA, dns::rrclass::IN, dns::Transport::Udp, {}});
  EXPECT_EQ(child_soa.answer,
            Lines{"child.example.org. 1800 IN SOA ns1.child.example.org. hostmaster.child.example.org. 7 7200 900 1209600 60"});

  Reply ds = runner.run({"child.example.org.", dns::rrtype::DS, dns::rrclass::IN, dns::Transport::Udp, {}});
  EXPECT_EQ(ds.rcode, "NOERROR");
  EXPECT_EQ(ds.flags, "qr aa rd");
  EXPECT_EQ(ds.authority, Lines{kNegativeSoa});  // the parent's SOA

  Reply nx = runner.run({"nope.child.example.org.", dns::rrtype::A, dns::rrclass::IN, dns::Transport::Udp, {}});
  EXPECT_EQ(nx.rcode, "NXDOMAIN");
  EXPECT_EQ(nx.authority,
            Lines{"child.example.org. 60 IN SOA ns1.child.example.org. hostmaster.child.example.org. 7 7200 900 1209600 60"});
}

// Without the child zone, the same names are a referral from the parent.
TEST(FileLookupZones, ParentAloneRefers) {
  test::SetupFixture fixture;
  const auto config = test::yaml_node("- { zone: example.org., path: lookup.zone }", "file", kDataDir / "stsd.yaml");
  auto setup = fixture.setup(config);
  ChainRunner runner(file::make_file_plugin(setup));
  Reply reply = runner.run({"www.child.example.org.", dns::rrtype::A, dns::rrclass::IN, dns::Transport::Udp, {}});
  EXPECT_EQ(reply.flags, "qr rd");
  EXPECT_EQ(reply.authority, Lines{"child.example.org. 3600 IN NS ns1.child.example.org."});
  EXPECT_EQ(reply.additional, Lines{"ns1.child.example.org. 3600 IN A 192.0.2.60"});
}

// Every chain build reads the files again: that is how SIGHUP picks up edits.
TEST(FileReload, FactoryRereadsTheFile) {
  const test::TempDir temp_dir("file-reload");
  const auto& dir = temp_dir.path();
  auto write_zone = [&](const char* address) {
    std::ofstream(dir / "reload.zone") << "$TTL 60\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A "
                                       << address << "\n";
  };
  test::SetupFixture fixture;
  const auto config = test::yaml_node("- { zone: reload.test., path: reload.zone }", "file", dir / "stsd.yaml");

  write_zone("192.0.2.10");
  auto setup = fixture.setup(config);
  ChainRunner first(file::make_file_plugin(setup));
  write_zone("192.0.2.20");
  ChainRunner second(file::make_file_plugin(setup));

  const QuerySpec www{"www.reload.test.", dns::rrtype::A, dns::rrclass::IN, dns::Transport::Udp, {}};
  EXPECT_EQ(first.run(www).answer, Lines{"www.reload.test. 60 IN A 192.0.2.10"});
  EXPECT_EQ(second.run(www).answer, Lines{"www.reload.test. 60 IN A 192.0.2.20"});
}

}  // namespace
// clang-format on
