// The catalog zone (RFC 9432 v2): its records, stable and unique member labels, the
// serial across restarts (RFC 1982), and its answers to queries.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "catalog.h"
#include "dns/types.h"
#include "plugin_test_support.h"
#include "wire_records.h"

using namespace stsd;
using namespace stsd::transfer;

namespace {

dns::Name name(const std::string& text) { return *dns::Name::from_text(text); }

MemberKeys keys(std::vector<std::string> names) {
  MemberKeys out;
  for (const auto& text : names) {
    const dns::Name n = name(text).lowered();
    out.emplace_back(reinterpret_cast<const char*>(n.data()), n.size());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Catalog, RecordsOfSchemaVersionTwo) {
  const CatalogZone catalog(name("catalog.stsd.invalid."), 7, keys({"_mta-sts.a.example.", "b.example."}));
  const ZoneVersion version = catalog.version();
  EXPECT_EQ(version.serial, 7u);
  std::vector<std::string> lines;
  size_t offset = 0;
  WireRecord record;
  while (next_record(version.records, offset, record))
    lines.push_back(dns::Name::from_wire(record.owner)->to_text() + " " + dns::type_to_string(record.type));
  const std::string a_label = catalog.label_of(name("_mta-sts.a.example."));
  const std::string b_label = catalog.label_of(name("b.example."));
  ASSERT_EQ(a_label.size(), 16u);
  ASSERT_NE(a_label, b_label);
  std::vector<std::string> expected = {"catalog.stsd.invalid. SOA", "catalog.stsd.invalid. NS",
                                       "version.catalog.stsd.invalid. TXT",
                                       a_label + ".zones.catalog.stsd.invalid. PTR",
                                       b_label + ".zones.catalog.stsd.invalid. PTR"};
  // Members come in label order.
  if (b_label < a_label) std::swap(expected[3], expected[4]);
  EXPECT_EQ(lines, expected);
  EXPECT_EQ(soa_serial(first_record(version.records).rdata), 7u);
}

TEST(Catalog, LabelsStayWhenOtherMembersComeAndGo) {
  const CatalogZone small(name("cat."), 1, keys({"a.example.", "b.example."}));
  const CatalogZone large(name("cat."), 2, keys({"a.example.", "b.example.", "c.example.", "d.example."}));
  EXPECT_EQ(small.label_of(name("a.example.")), large.label_of(name("a.example.")));
  EXPECT_EQ(small.label_of(name("b.example.")), large.label_of(name("b.example.")));
  EXPECT_EQ(small.label_of(name("c.example.")), "");
}

TEST(Catalog, ManyMembersGetUniqueLabels) {
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("_mta-sts.d" + std::to_string(i) + ".example.");
  const CatalogZone catalog(name("cat."), 1, keys(names));
  std::set<std::string> labels;
  for (const auto& n : names) labels.insert(catalog.label_of(name(n)));
  EXPECT_EQ(labels.size(), names.size());
}

TEST(CatalogSerial, KeptForTheSameMembersAndIncreasedOtherwise) {
  struct Case {
    const char* what;
    std::optional<CatalogSerial> previous;
    uint64_t digest;
    int64_t now;
    uint32_t expected;
  };
  const Case cases[] = {
      {"first start: the clock", std::nullopt, 1, 1700000000, 1700000000},
      {"restart, same members: unchanged", CatalogSerial{1600000000, 1}, 1, 1700000000, 1600000000},
      {"members changed: the clock", CatalogSerial{1600000000, 1}, 2, 1700000000, 1700000000},
      {"changed twice within a second: one more", CatalogSerial{1700000000, 1}, 2, 1700000000, 1700000001},
      {"clock behind the serial: one more", CatalogSerial{1800000000, 1}, 2, 1700000000, 1800000001},
      {"wraps (RFC 1982)", CatalogSerial{0xffffffffu, 1}, 2, 5, 5},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.what);
    const CatalogSerial next = next_catalog_serial(test.previous, test.digest, test.now);
    EXPECT_EQ(next.serial, test.expected);
    EXPECT_EQ(next.digest, test.digest);
  }
}

TEST(CatalogSerial, FactRoundTripAndRefusals) {
  const CatalogSerial state{4000000000u, 0x0123456789abcdefull};
  EXPECT_EQ(format_catalog_fact(state), "4000000000 0123456789abcdef");
  EXPECT_EQ(parse_catalog_fact(format_catalog_fact(state)), state);
  for (const char* bad : {"", "12", "12 xyz", "x 0123456789abcdef", "12 0123456789abcde", "-1 0123456789abcdef"})
    EXPECT_EQ(parse_catalog_fact(bad), std::nullopt) << bad;
  EXPECT_EQ(catalog_fact_name(name("Catalog.STSD.invalid.")), "transfer/catalog/catalog.stsd.invalid");
  EXPECT_NE(member_set_digest(keys({"a.example."})), member_set_digest(keys({"b.example."})));
  EXPECT_EQ(member_set_digest(keys({"a.example.", "b.example."})), member_set_digest(keys({"b.example.", "a.example."})));
}

// Queries inside the catalog zone, answered as a secondary's SOA check and a person's
// dig expect.
class CatalogPlugin final : public Plugin {
 public:
  explicit CatalogPlugin(std::shared_ptr<const CatalogZone> zone) : zone_(std::move(zone)) {}
  std::string_view name() const override { return "catalog"; }
  void serve(Query& query, Next next) const override {
    if (!query.request.question.name.is_subdomain_of(zone_->apex())) return next(query);
    zone_->answer(query.request, query.response);
  }

 private:
  std::shared_ptr<const CatalogZone> zone_;
};

TEST(CatalogAnswers, Table) {
  auto zone = std::make_shared<const CatalogZone>(name("cat.example."), 42, keys({"member.example."}));
  const std::string label = zone->label_of(name("member.example."));
  test::ChainRunner runner(std::make_unique<CatalogPlugin>(zone));
  struct Case {
    std::string qname;
    uint16_t qtype;
    std::string rcode;
    std::vector<std::string> answer;
    size_t authority;
  };
  const Case cases[] = {
      {"cat.example.", dns::rrtype::SOA, "NOERROR", {"cat.example. 0 IN SOA invalid. invalid. 42 300 60 2419200 0"}, 0},
      {"cat.example.", dns::rrtype::NS, "NOERROR", {"cat.example. 0 IN NS invalid."}, 0},
      {"cat.example.", dns::rrtype::A, "NOERROR", {}, 1},
      {"version.cat.example.", dns::rrtype::TXT, "NOERROR", {"version.cat.example. 0 IN TXT \"2\""}, 0},
      {"zones.cat.example.", dns::rrtype::PTR, "NOERROR", {}, 1},
      {label + ".zones.cat.example.", dns::rrtype::PTR, "NOERROR",
       {label + ".zones.cat.example. 0 IN PTR member.example."}, 0},
      {label + ".zones.cat.example.", dns::rrtype::TXT, "NOERROR", {}, 1},
      {"0000000000000000.zones.cat.example.", dns::rrtype::PTR, "NXDOMAIN", {}, 1},
      {"nothing.cat.example.", dns::rrtype::A, "NXDOMAIN", {}, 1},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.qname + " " + dns::type_to_string(test.qtype));
    const test::Reply reply = runner.run({.qname = test.qname, .qtype = test.qtype});
    EXPECT_EQ(reply.rcode, test.rcode);
    EXPECT_TRUE(reply.aa);
    EXPECT_EQ(reply.answer, test.answer);
    EXPECT_EQ(reply.authority.size(), test.authority);
  }
}

}  // namespace
