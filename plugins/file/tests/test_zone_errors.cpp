// Bad master files and bad `file:` config: the load fails with an error naming the
// file and line at fault and the reason.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include "file_plugin.h"
#include "plugin_test_support.h"
#include "temp_dir.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

using namespace stsd;

namespace {

// A zone header every case can start from (lines 1-3).
const std::string kHead =
    "$TTL 3600\n"
    "@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n"
    "@ IN NS ns1\n";

struct BadZoneCase {
  const char* behaviour;
  std::map<std::string, std::string> files;  // name → content; the zone is "bad.zone"
  const char* where;                         // "<file>:<line>" expected in the error
  const char* reason;                        // a fragment of the reason
};

std::ostream& operator<<(std::ostream& out, const BadZoneCase& c) { return out << c.behaviour; }

const BadZoneCase kBadZones[] = {
    {"unparsable_rdata", {{"bad.zone", kHead + "www IN A 192.0.2.300\n"}}, "bad.zone:4", "cannot parse record"},
    {"unknown_type", {{"bad.zone", kHead + "\nwww IN BOGUS 1\n"}}, "bad.zone:5", "cannot parse record"},
    {"owner_outside_zone", {{"bad.zone", kHead + "www.example.net. IN A 192.0.2.1\n"}}, "bad.zone:4",
     "outside the zone example.org."},
    {"origin_moves_owners_outside", {{"bad.zone", kHead + "$ORIGIN example.net.\nwww A 192.0.2.1\n"}}, "bad.zone:5",
     "outside the zone"},
    {"no_soa", {{"bad.zone", "$TTL 60\n@ NS ns1\nns1 A 192.0.2.1\n"}}, "bad.zone:3", "has no SOA record"},
    {"second_soa", {{"bad.zone", kHead + "; comment\n@ IN SOA ns2 hostmaster 2 7200 900 1209600 300\n"}}, "bad.zone:5",
     "second SOA record"},
    {"soa_below_apex", {{"bad.zone", kHead + "sub IN SOA ns1 hostmaster 1 2 3 4 5\n"}}, "bad.zone:4",
     "not at the zone apex"},
    {"no_ns_at_apex", {{"bad.zone", "$TTL 60\n\n@ SOA ns1 hostmaster 1 2 3 4 5\nns1 A 192.0.2.1\n"}}, "bad.zone:3",
     "has no NS records"},
    {"cname_after_other_data", {{"bad.zone", kHead + "www A 192.0.2.1\nwww CNAME other\n"}}, "bad.zone:5",
     "cannot coexist with other data"},
    {"other_data_after_cname", {{"bad.zone", kHead + "www CNAME other\nwww TXT \"x\"\n"}}, "bad.zone:5",
     "conflicts with the CNAME at"},
    {"cname_at_apex", {{"bad.zone", kHead + "@ CNAME elsewhere.net.\n"}}, "bad.zone:4", "cannot coexist"},
    {"two_cname_targets", {{"bad.zone", kHead + "www CNAME a\nwww CNAME b\n"}}, "bad.zone:5", "second CNAME"},
    {"data_below_delegation", {{"bad.zone", kHead + "sub NS ns.sub\nns.sub A 192.0.2.5\nwww.sub TXT \"x\"\n"}},
     "bad.zone:6", "below the delegation sub.example.org."},
    {"data_at_delegation", {{"bad.zone", kHead + "sub NS ns.sub\nsub MX 10 mail\n"}}, "bad.zone:5",
     "delegation point sub.example.org."},
    {"class_ch_record", {{"bad.zone", kHead + "version CH TXT \"1\"\n"}}, "bad.zone:4", "class IN only"},
    {"ns_at_wildcard", {{"bad.zone", kHead + "*.w NS ns1\n"}}, "bad.zone:4", "wildcard"},
    {"dname_unsupported", {{"bad.zone", kHead + "d DNAME example.net.\n"}}, "bad.zone:4", "DNAME"},
    {"ttl_too_large", {{"bad.zone", kHead + "www 2147483648 A 192.0.2.1\n"}}, "bad.zone:4", "2147483647"},
    {"bad_ttl_directive", {{"bad.zone", kHead + "$TTL 1x\n"}}, "bad.zone:4", "invalid TTL"},
    {"bad_origin_directive", {{"bad.zone", kHead + "$ORIGIN a..b.\n"}}, "bad.zone:4", "invalid domain name"},
    {"unsupported_directive", {{"bad.zone", kHead + "$GENERATE 1-3 host$ A 192.0.2.$\n"}}, "bad.zone:4",
     "unsupported directive $GENERATE"},
    {"multi_line_record_reports_first_line",
     {{"bad.zone", kHead + "; a comment\n\nwww IN A (\n  192.0.2.1\n  192.0.2.2 )\n"}}, "bad.zone:6",
     "cannot parse record"},
    {"parenthesis_left_open", {{"bad.zone", kHead + "www A 192.0.2.1\ntxt TXT ( \"a\"\n \"b\"\n"}}, "bad.zone:5",
     "'(' not closed"},
    {"quote_left_open", {{"bad.zone", kHead + "txt TXT \"a;b\" \"unterminated\n"}}, "bad.zone:4",
     "quoted string not closed"},
    {"line_count_after_multi_line_soa",
     {{"bad.zone", "$TTL 60\n@ SOA ns1 hostmaster (\n 1 ; serial\n 7200\n 900 1209600 300 )\n@ NS ns1\nx.example.net. A 192.0.2.1\n"}},
     "bad.zone:7", "outside the zone"},
    {"missing_include", {{"bad.zone", kHead + "$INCLUDE missing.zone\n"}}, "bad.zone:4", "missing.zone does not exist"},
    {"error_inside_include_names_included_file",
     {{"bad.zone", kHead + "$INCLUDE part.zone\n"}, {"part.zone", "; part\nok A 192.0.2.1\nbroken A 1.2.3\n"}},
     "part.zone:3", "cannot parse record"},
    {"include_loop",
     {{"bad.zone", kHead + "$INCLUDE a.zone\n"}, {"a.zone", "x A 192.0.2.1\n$INCLUDE b.zone\n"},
      {"b.zone", "$INCLUDE a.zone\n"}},
     "b.zone:1", "$INCLUDE loop"},
    {"include_self", {{"bad.zone", kHead + "$INCLUDE bad.zone\n"}}, "bad.zone:4", "$INCLUDE loop"},
    {"include_too_deep",
     {{"bad.zone", kHead + "$INCLUDE d1.zone\n"}, {"d1.zone", "$INCLUDE d2.zone\n"}, {"d2.zone", "$INCLUDE d3.zone\n"},
      {"d3.zone", "$INCLUDE d4.zone\n"}, {"d4.zone", "$INCLUDE d5.zone\n"}, {"d5.zone", "$INCLUDE d6.zone\n"},
      {"d6.zone", "$INCLUDE d7.zone\n"}, {"d7.zone", "; deep\n$INCLUDE d8.zone\n"}, {"d8.zone", "x A 192.0.2.1\n"}},
     "d7.zone:2", "nested deeper than 8"},
    {"meta_type_in_zone", {{"bad.zone", kHead + "x TYPE255 \\# 0\n"}}, "bad.zone:4", "meta type"},
    // RFC 2181 §8: ldns would keep these modulo 2^32 (0 and 685442432).
    {"ttl_2_to_the_32", {{"bad.zone", kHead + "www 4294967296 A 192.0.2.1\n"}}, "bad.zone:4",
     "invalid TTL '4294967296'"},
    {"ttl_weeks_overflow", {{"bad.zone", kHead + "www 9999999w IN A 192.0.2.1\n"}}, "bad.zone:4",
     "invalid TTL '9999999w'"},
    {"ttl_after_class", {{"bad.zone", kHead + "www IN 4294967296 A 192.0.2.1\n"}}, "bad.zone:4", "invalid TTL"},
    {"ttl_blank_owner", {{"bad.zone", kHead + "  4294967297 A 192.0.2.1\n"}}, "bad.zone:4", "invalid TTL"},
    {"ttl_all_ones", {{"bad.zone", kHead + "www 4294967295 A 192.0.2.1\n"}}, "bad.zone:4", "invalid TTL"},
    {"ttl_inside_parentheses", {{"bad.zone", kHead + "www ( 2147483648\n IN A 192.0.2.1 )\n"}}, "bad.zone:4",
     "at most 2147483647"},
    {"ttl_directive_2_to_the_32", {{"bad.zone", kHead + "$TTL 4294967296\n"}}, "bad.zone:4", "invalid TTL"},
    {"nul_byte", {{"bad.zone", kHead + std::string("www A 192.0.2.1\0\n", 17)}}, "bad.zone:4", "NUL byte at column 16"},
    {"nul_byte_in_include", {{"bad.zone", kHead + "$INCLUDE part.zone\n"}, {"part.zone", std::string("\n\0", 2)}},
     "part.zone:2", "NUL byte"},
    {"include_a_folder", {{"bad.zone", kHead + "$INCLUDE .\n"}}, "bad.zone:4", "is a folder, not a regular file"},
    {"include_outside_the_folder", {{"bad.zone", kHead + "$INCLUDE /etc/passwd\n"}}, "bad.zone:4",
     "/etc/passwd is outside"},
    {"include_dev_zero", {{"bad.zone", kHead + "$INCLUDE /dev/zero\n"}}, "bad.zone:4", "/dev/zero is outside"},
};

class FileBadZone : public ::testing::TestWithParam<BadZoneCase> {};

TEST_P(FileBadZone, FailsWithFileAndLine) {
  const BadZoneCase& c = GetParam();
  const test::TempDir temp_dir("bad-zone");
  const auto& dir = temp_dir.path();
  for (const auto& [name, content] : c.files) std::ofstream(dir / name) << content;

  test::SetupFixture fixture;
  const auto config = test::yaml_node("- zone: example.org.\n  path: bad.zone\n", "file", dir / "stsd.yaml");
  auto setup = fixture.setup(config);
  try {
    file::make_file_plugin(setup);
    ADD_FAILURE() << "the zone loaded";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    // The config's own place comes first, then the zone file's.
    EXPECT_NE(message.find("stsd.yaml:2:"), std::string::npos) << message;
    EXPECT_NE(message.find((dir / c.where).string() + ": "), std::string::npos) << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(Zone, FileBadZone, ::testing::ValuesIn(kBadZones),
                         [](const ::testing::TestParamInfo<BadZoneCase>& info) { return std::string(info.param.behaviour); });

// The same zone text with the mistakes removed loads: the table's failures come from
// the mistakes, not from the header.
TEST(FileGoodZone, HeaderAloneLoads) {
  const test::TempDir temp_dir("good-zone");
  const auto& dir = temp_dir.path();
  std::ofstream(dir / "good.zone") << kHead << "ns1 A 192.0.2.1\nsub NS ns.sub\nns.sub A 192.0.2.5\nsub DS 1 13 2 "
                                   << std::string(64, 'a') << "\n$INCLUDE part.zone\n"
                                   << "longest 2147483647 A 192.0.2.3\nweekly IN 1w A 192.0.2.4\n"
                                   << "split ( 1h30m\n IN A 192.0.2.5 )\n";
  std::ofstream(dir / "part.zone") << "www A 192.0.2.2\nwww A 192.0.2.2\n";  // a duplicate is kept once
  test::SetupFixture fixture;
  const auto config = test::yaml_node("- { zone: example.org., path: good.zone }", "file", dir / "stsd.yaml");
  auto setup = fixture.setup(config);
  auto plugin = file::make_file_plugin(setup);
  auto* file_plugin = dynamic_cast<file::FilePlugin*>(plugin.get());
  ASSERT_NE(file_plugin, nullptr);
  ASSERT_EQ(file_plugin->zones().size(), 1u);
  const auto& zone = *file_plugin->zones().front();
  const auto* www = zone.find(*dns::Name::from_text("www.example.org."));
  ASSERT_NE(www, nullptr);
  ASSERT_NE(www->find(dns::rrtype::A), nullptr);
  EXPECT_EQ(www->find(dns::rrtype::A)->rdatas.size(), 1u);
  // The TTLs at the edge of RFC 2181 §8, in either field order and across lines.
  const std::pair<const char*, uint32_t> ttls[] = {
      {"longest.example.org.", 2147483647u}, {"weekly.example.org.", 604800u}, {"split.example.org.", 5400u}};
  for (const auto& [name, ttl] : ttls) {
    const auto* node = zone.find(*dns::Name::from_text(name));
    ASSERT_NE(node, nullptr) << name;
    ASSERT_NE(node->find(dns::rrtype::A), nullptr) << name;
    EXPECT_EQ(node->find(dns::rrtype::A)->ttl, ttl) << name;
  }
}

struct BadConfigCase {
  const char* behaviour;
  const char* yaml;
  const char* where;   // "stsd.yaml:<line>:"
  const char* reason;
};

std::ostream& operator<<(std::ostream& out, const BadConfigCase& c) { return out << c.behaviour; }

const BadConfigCase kBadConfigs[] = {
    {"not_a_list", "zone: example.org.\npath: good.zone\n", "stsd.yaml:1:", "expected a list of zones"},
    {"empty_list", "[]\n", "stsd.yaml:1:", "expected a list of zones"},
    {"unknown_key", "- zone: example.org.\n  path: good.zone\n  reload: 5s\n", "stsd.yaml:3:", "unknown key 'reload'"},
    {"missing_path", "- zone: example.org.\n", "stsd.yaml:1:", "missing required key 'path'"},
    {"bad_zone_name", "- zone: a..b\n  path: good.zone\n", "stsd.yaml:1:", "invalid zone name"},
    {"zone_twice", "- { zone: example.org., path: good.zone }\n- { zone: Example.ORG, path: good.zone }\n",
     "stsd.yaml:2:", "listed twice"},
    {"missing_file", "- zone: example.org.\n  path: nowhere.zone\n", "stsd.yaml:2:", "zone file does not exist"},
    {"zone_file_is_a_folder", "- zone: example.org.\n  path: .\n", "stsd.yaml:2:", "zone file is a folder"},
    {"max_bytes_too_small", "- zone: example.org.\n  path: good.zone\n  max_bytes: 10\n", "stsd.yaml:3:", "out of range"},
    {"include_folder_missing", "- zone: example.org.\n  path: good.zone\n  include_folders: [nowhere]\n",
     "stsd.yaml:3:", "not a folder"},
};

class FileBadConfig : public ::testing::TestWithParam<BadConfigCase> {};

TEST_P(FileBadConfig, FailsWithConfigLine) {
  const BadConfigCase& c = GetParam();
  const test::TempDir temp_dir("file-bad-config");
  const auto& dir = temp_dir.path();
  std::ofstream(dir / "good.zone") << kHead << "ns1 A 192.0.2.1\n";
  test::SetupFixture fixture;
  const auto config = test::yaml_node(c.yaml, "file", dir / "stsd.yaml");
  auto setup = fixture.setup(config);
  try {
    file::make_file_plugin(setup);
    ADD_FAILURE() << "the config was accepted";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(c.where), std::string::npos) << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(Config, FileBadConfig, ::testing::ValuesIn(kBadConfigs),
                         [](const ::testing::TestParamInfo<BadConfigCase>& info) { return std::string(info.param.behaviour); });

}  // namespace
// clang-format on
