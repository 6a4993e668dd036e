// The journal: differences between versions (RFC 1995 §4), what an IXFR from a given
// serial gets, the bound on octets, and the memory a zone costs.
#include <gtest/gtest.h>
#include <malloc.h>

#include <string>
#include <vector>

#include "dns/rdata.h"
#include "dns/types.h"
#include "journal.h"
#include "wire_records.h"

using namespace stsd;
using namespace stsd::transfer;

namespace {

dns::Name name(const std::string& text) { return *dns::Name::from_text(text); }

zone::Record soa(const std::string& apex, uint32_t serial) {
  return {name(apex), dns::rrtype::SOA, 3600,
          dns::soa_rdata(dns::Soa{name("ns1." + apex), name("hostmaster." + apex), serial, 3600, 600, 604800, 300})};
}
zone::Record txt(const std::string& owner, const std::string& text, uint32_t ttl = 300) {
  return {name(owner), dns::rrtype::TXT, ttl, dns::txt_rdata(text)};
}
zone::Record ns(const std::string& owner, const std::string& target) {
  return {name(owner), dns::rrtype::NS, 3600, dns::name_rdata(name(target))};
}

// An _mta-sts zone as the mtasts plugin renders it: SOA, two NS, the policy TXT.
zone::Content mta_sts_zone(const std::string& apex, uint32_t serial, const std::string& id) {
  return {serial, {soa(apex, serial), ns(apex, "ns1.example.net."), ns(apex, "ns2.example.net."),
                   txt(apex, "v=STSv1; id=" + id)}};
}

// The records of a buffer as "type:rdata-size" strings, in order.
std::vector<std::string> describe(std::span<const uint8_t> records) {
  std::vector<std::string> out;
  size_t offset = 0;
  WireRecord record;
  while (next_record(records, offset, record)) {
    std::string text = dns::type_to_string(record.type);
    if (record.type == dns::rrtype::SOA) text += " " + std::to_string(soa_serial(record.rdata));
    if (record.type == dns::rrtype::TXT)
      text += " " + std::string(reinterpret_cast<const char*>(record.rdata.data()) + 1, record.rdata.size() - 1);
    out.push_back(text);
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(WireRecords, RoundTripKeepsEveryField) {
  std::vector<uint8_t> buffer;
  append_record(buffer, txt("a.example.", "hello", 42));
  append_record(buffer, soa("example.", 7));
  size_t offset = 0;
  WireRecord record;
  ASSERT_TRUE(next_record(buffer, offset, record));
  EXPECT_EQ(record.type, dns::rrtype::TXT);
  EXPECT_EQ(record.rclass, dns::rrclass::IN);
  EXPECT_EQ(record.ttl, 42u);
  EXPECT_EQ(*dns::Name::from_wire(record.owner), name("a.example."));
  ASSERT_TRUE(next_record(buffer, offset, record));
  EXPECT_EQ(soa_serial(record.rdata), 7u);
  EXPECT_FALSE(next_record(buffer, offset, record));
  EXPECT_EQ(offset, buffer.size());
}

TEST(WireRecords, SerialArithmeticWrapsAsRfc1982Says) {
  EXPECT_TRUE(serial_after(2, 1));
  EXPECT_TRUE(serial_after(0, 0xffffffffu));  // wrapped
  EXPECT_FALSE(serial_after(1, 2));
  EXPECT_FALSE(serial_after(5, 5));
  EXPECT_FALSE(serial_after(0x80000001u, 1));  // exactly half way is undefined: not after
}

TEST(Diff, RotationIsTheSoaAndTheOneChangedTxt) {
  const auto old_version = version_of(mta_sts_zone("_mta-sts.example.com.", 10, "old"));
  const auto new_version = version_of(mta_sts_zone("_mta-sts.example.com.", 11, "new"));
  const ZoneDiff diff = diff_versions(old_version, new_version);
  EXPECT_EQ(diff.from, 10u);
  EXPECT_EQ(diff.to, 11u);
  EXPECT_EQ(describe(diff.removed), (Lines{"SOA 10", "TXT v=STSv1; id=old"}));
  EXPECT_EQ(describe(diff.added), (Lines{"SOA 11", "TXT v=STSv1; id=new"}));
}

TEST(Diff, AddedRemovedAndTtlChangedRecords) {
  const zone::Content before{1, {soa("example.", 1), txt("a.example.", "a"), txt("b.example.", "b", 300)}};
  const zone::Content after{2, {soa("example.", 2), txt("b.example.", "b", 600), txt("c.example.", "c")}};
  const ZoneDiff diff = diff_versions(version_of(before), version_of(after));
  EXPECT_EQ(describe(diff.removed), (Lines{"SOA 1", "TXT a", "TXT b"}));
  EXPECT_EQ(describe(diff.added), (Lines{"SOA 2", "TXT b", "TXT c"}));
}

TEST(Diff, SameRecordsInAnotherOrderIsOnlyTheSoa) {
  const zone::Content before{1, {soa("example.", 1), txt("a.example.", "a"), txt("b.example.", "b")}};
  const zone::Content after{2, {soa("example.", 2), txt("b.example.", "b"), txt("a.example.", "a")}};
  const ZoneDiff diff = diff_versions(version_of(before), version_of(after));
  EXPECT_EQ(describe(diff.removed), (Lines{"SOA 1"}));
  EXPECT_EQ(describe(diff.added), (Lines{"SOA 2"}));
}

TEST(Journal, OutcomesOfRecording) {
  Journal journal(1 << 20);
  const auto apex = name("_mta-sts.example.com.");
  EXPECT_EQ(journal.record(apex, version_of(mta_sts_zone("_mta-sts.example.com.", 10, "a"))), Journal::Outcome::Added);
  EXPECT_EQ(journal.record(apex, version_of(mta_sts_zone("_mta-sts.example.com.", 10, "a"))),
            Journal::Outcome::Unchanged);
  EXPECT_EQ(journal.record(apex, version_of(mta_sts_zone("_mta-sts.example.com.", 11, "b"))), Journal::Outcome::Changed);
  EXPECT_GT(journal.journal_bytes(), 0u);
  EXPECT_EQ(journal.record(apex, version_of(mta_sts_zone("_mta-sts.example.com.", 5, "c"))), Journal::Outcome::Reset);
  EXPECT_EQ(journal.journal_bytes(), 0u);
  EXPECT_EQ(journal.serial(name("_MTA-STS.Example.COM.")), 5u);  // names compare case-insensitively
  EXPECT_TRUE(journal.remove(apex));
  EXPECT_FALSE(journal.remove(apex));
  EXPECT_EQ(journal.zone_count(), 0u);
  EXPECT_EQ(journal.content_bytes(), 0u);
}

struct IxfrCase {
  const char* what;
  uint32_t client_serial;
  IxfrPlan::Kind kind;
  std::vector<uint32_t> diff_starts;
};

TEST(Journal, WhatAnIxfrFromEachSerialGets) {
  Journal journal(1 << 20);
  const auto apex = name("_mta-sts.example.com.");
  for (uint32_t serial : {10u, 11u, 12u, 13u})
    journal.record(apex, version_of(mta_sts_zone("_mta-sts.example.com.", serial, "id" + std::to_string(serial))));
  const IxfrCase cases[] = {
      {"current", 13, IxfrPlan::Kind::UpToDate, {}},
      {"newer than ours (RFC 1995 §2)", 14, IxfrPlan::Kind::UpToDate, {}},
      {"one behind", 12, IxfrPlan::Kind::Incremental, {12}},
      {"three behind", 10, IxfrPlan::Kind::Incremental, {10, 11, 12}},
      {"never seen", 9, IxfrPlan::Kind::Full, {}},
      {"unrelated", 1000, IxfrPlan::Kind::UpToDate, {}},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.what);
    const IxfrPlan plan = journal.plan_ixfr(apex, test.client_serial);
    EXPECT_EQ(plan.kind, test.kind);
    ASSERT_NE(plan.current, nullptr);
    EXPECT_EQ(plan.current->serial, 13u);
    std::vector<uint32_t> starts;
    for (const auto& diff : plan.diffs) starts.push_back(diff->from);
    EXPECT_EQ(starts, test.diff_starts);
  }
  EXPECT_EQ(journal.plan_ixfr(name("other.example."), 1).current, nullptr);
}

TEST(Journal, TheBoundDropsTheOldestDifferencesOfAnyZone) {
  const auto rotation = [](Journal& journal, const std::string& apex, uint32_t serial) {
    journal.record(name(apex), version_of(mta_sts_zone(apex, serial, "id" + std::to_string(serial))));
  };
  Journal probe(1 << 20);
  rotation(probe, "_mta-sts.a.example.", 1);
  rotation(probe, "_mta-sts.a.example.", 2);
  const size_t one_diff = probe.journal_bytes();

  // Room for three differences.
  Journal journal(3 * one_diff);
  rotation(journal, "_mta-sts.a.example.", 1);
  rotation(journal, "_mta-sts.b.example.", 1);
  rotation(journal, "_mta-sts.a.example.", 2);  // a: 1→2
  rotation(journal, "_mta-sts.b.example.", 2);  // b: 1→2
  rotation(journal, "_mta-sts.a.example.", 3);  // a: 2→3
  EXPECT_EQ(journal.journal_bytes(), 3 * one_diff);
  rotation(journal, "_mta-sts.b.example.", 3);  // b: 2→3, drops a: 1→2
  EXPECT_EQ(journal.journal_bytes(), 3 * one_diff);
  EXPECT_EQ(journal.plan_ixfr(name("_mta-sts.a.example."), 1).kind, IxfrPlan::Kind::Full);
  EXPECT_EQ(journal.plan_ixfr(name("_mta-sts.a.example."), 2).kind, IxfrPlan::Kind::Incremental);
  EXPECT_EQ(journal.plan_ixfr(name("_mta-sts.b.example."), 1).kind, IxfrPlan::Kind::Incremental);

  // A removed zone's differences leave the count at once.
  journal.remove(name("_mta-sts.b.example."));
  EXPECT_EQ(journal.journal_bytes(), one_diff);
  // A smaller bound applies at once.
  journal.set_max_bytes(0);
  EXPECT_EQ(journal.journal_bytes(), 0u);
  EXPECT_EQ(journal.plan_ixfr(name("_mta-sts.a.example."), 2).kind, IxfrPlan::Kind::Full);
}

TEST(Journal, ATransferInProgressKeepsItsVersionWhenTheZoneMovesOn) {
  Journal journal(1 << 20);
  const auto apex = name("example.");
  journal.record(apex, version_of(mta_sts_zone("example.", 1, "a")));
  auto held = journal.current(apex);
  journal.record(apex, version_of(mta_sts_zone("example.", 2, "b")));
  EXPECT_EQ(held->serial, 1u);
  EXPECT_EQ(describe(held->records).back(), "TXT v=STSv1; id=a");
}

// Measures what one tracked _mta-sts zone costs (no history): the number the README
// gives. The bound is loose on purpose; the figure is printed.
TEST(Journal, MemoryPerZone) {
  constexpr size_t kZones = 20000;
  std::vector<zone::Content> contents;
  for (size_t i = 0; i < kZones; ++i)
    contents.push_back(mta_sts_zone("_mta-sts.domain" + std::to_string(i) + ".example.com.", 2024010100, "20240101T000000"));
  const auto before = mallinfo2().uordblks;
  {
    Journal journal(64 << 20);
    for (size_t i = 0; i < kZones; ++i) journal.record(contents[i].records[0].owner, version_of(contents[i]));
    const auto after = mallinfo2().uordblks;
    const double per_zone = static_cast<double>(after - before) / kZones;
    const double content = static_cast<double>(journal.content_bytes()) / kZones;
    std::printf("journal: %.0f bytes per _mta-sts zone held (%.0f of them its records)\n", per_zone, content);
    EXPECT_LT(per_zone, 700);

    std::vector<ZoneVersion> rotated;
    for (size_t i = 0; i < kZones; ++i)
      rotated.push_back(version_of(mta_sts_zone(contents[i].records[0].owner.to_text(), 2024010101, "20240102T000000")));
    const auto before_rotation = mallinfo2().uordblks;
    for (size_t i = 0; i < kZones; ++i) journal.record(contents[i].records[0].owner, std::move(rotated[i]));
    const auto after_rotation = mallinfo2().uordblks;
    // The new versions were allocated before; the old ones were freed during.
    const double per_rotation =
        (static_cast<double>(after_rotation) - static_cast<double>(before_rotation)) / kZones + content;
    std::printf("journal: %.0f bytes more per zone for one rotation kept (%.0f of them the difference)\n",
                per_rotation, static_cast<double>(journal.journal_bytes()) / kZones);
    EXPECT_LT(per_rotation, 700);
  }
}

}  // namespace
