#include "dns/message.h"

#include <gtest/gtest.h>

#include <vector>

using namespace stsd::dns;

namespace {
// A query for `name` (dotted, e.g. "www.example.org"), built by hand.
std::vector<uint8_t> query(const std::string& name, uint16_t type, uint16_t flags = 0x0100) {
  std::vector<uint8_t> p = {0x12, 0x34, static_cast<uint8_t>(flags >> 8), static_cast<uint8_t>(flags), 0, 1, 0, 0, 0, 0,
                            0,    0};
  size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    p.push_back(static_cast<uint8_t>(dot - start));
    p.insert(p.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  p.push_back(0);
  p.push_back(type >> 8);
  p.push_back(type & 0xff);
  p.push_back(0);
  p.push_back(1);
  return p;
}
void add_opt(std::vector<uint8_t>& p, uint16_t size, uint8_t version = 0, std::vector<uint8_t> rdata = {}) {
  p[11] += 1;
  const uint8_t head[] = {
      0,       0,    41, static_cast<uint8_t>(size >> 8),         static_cast<uint8_t>(size),        0,
      version, 0x80, 0,  static_cast<uint8_t>(rdata.size() >> 8), static_cast<uint8_t>(rdata.size())};
  p.insert(p.end(), std::begin(head), std::end(head));
  p.insert(p.end(), rdata.begin(), rdata.end());
}
}  // namespace

TEST(Decode, PlainQuery) {
  Request r;
  auto p = query("WwW.example.org", 16);
  ASSERT_EQ(decode_query(p, r), DecodeStatus::Ok);
  EXPECT_EQ(r.id, 0x1234);
  EXPECT_TRUE(r.recursion_desired());
  EXPECT_EQ(r.question.name.to_text(), "www.example.org.");
  EXPECT_EQ(r.question.original.to_text(), "WwW.example.org.");
  EXPECT_EQ(r.question.type, 16);
  EXPECT_FALSE(r.edns.present);
  EXPECT_EQ(r.max_response_size(), 512u);
}

TEST(Decode, Edns) {
  Request r;
  auto p = query("example.org", 1);
  add_opt(p, 4096, 0, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});  // a cookie option, ignored
  ASSERT_EQ(decode_query(p, r), DecodeStatus::Ok);
  EXPECT_TRUE(r.edns.present);
  EXPECT_TRUE(r.edns.dnssec_ok);
  EXPECT_EQ(r.edns.udp_size, 4096);
  EXPECT_EQ(r.max_response_size(1232), 1232u);
  r.edns.udp_size = 100;
  EXPECT_EQ(r.max_response_size(1232), 512u);
  r.transport = Transport::Tcp;
  EXPECT_EQ(r.max_response_size(1232), 65535u);
}

TEST(Decode, BadVersion) {
  Request r;
  auto p = query("example.org", 1);
  add_opt(p, 1232, 1);
  EXPECT_EQ(decode_query(p, r), DecodeStatus::BadVers);
}

TEST(Decode, MalformedOptIsFormErr) {
  Request r;
  auto p = query("example.org", 1);
  add_opt(p, 1232, 0, {0, 10, 0, 20, 1});  // option longer than rdata
  EXPECT_EQ(decode_query(p, r), DecodeStatus::FormErr);
  auto two = query("example.org", 1);
  add_opt(two, 1232);
  add_opt(two, 1232);
  EXPECT_EQ(decode_query(two, r), DecodeStatus::FormErr);
}

// RFC 6891 §7: a FORMERR for a query whose OPT is well formed carries OPT, so the OPT is
// read even when the query is refused for something else.
TEST(Decode, FormErrStillReadsAWellFormedOpt) {
  Request r;
  auto two_cookies = query("example.org", 1);
  add_opt(two_cookies, 1232, 0, {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 0, 8, 8, 7, 6, 5, 4, 3, 2, 1});
  EXPECT_EQ(decode_query(two_cookies, r), DecodeStatus::FormErr);  // RFC 7873 §5.2.2
  EXPECT_TRUE(r.edns.present);
  EXPECT_TRUE(r.edns.dnssec_ok);
  EXPECT_EQ(r.edns.cookie.size(), 8u);
  EXPECT_EQ(r.edns.cookie[0], 1);

  auto ixfr_without_soa = query("example.org", rrtype::IXFR);  // RFC 1995 §3: the SOA is required
  add_opt(ixfr_without_soa, 1232);
  EXPECT_EQ(decode_query(ixfr_without_soa, r), DecodeStatus::FormErr);
  EXPECT_TRUE(r.edns.present);

  auto trailing = query("example.org", 1);
  add_opt(trailing, 1232);
  trailing.push_back(0);
  EXPECT_EQ(decode_query(trailing, r), DecodeStatus::FormErr);
  EXPECT_TRUE(r.edns.present);

  auto broken_option = query("example.org", 1);
  add_opt(broken_option, 1232, 0, {0, 10, 0, 20, 1});  // the OPT itself is malformed: no OPT back
  EXPECT_EQ(decode_query(broken_option, r), DecodeStatus::FormErr);
  EXPECT_FALSE(r.edns.present);
}

TEST(Decode, DropsResponsesAndRunts) {
  Request r;
  auto p = query("example.org", 1, 0x8100);
  EXPECT_EQ(decode_query(p, r), DecodeStatus::Drop);
  std::vector<uint8_t> runt = {1, 2, 3};
  EXPECT_EQ(decode_query(runt, r), DecodeStatus::Drop);
}

TEST(Decode, OpcodeNotImp) {
  Request r;
  auto p = query("example.org", 6, 0x2800);  // UPDATE
  EXPECT_EQ(decode_query(p, r), DecodeStatus::NotImp);
}

TEST(Decode, QdcountAndTruncation) {
  Request r;
  auto p = query("example.org", 1);
  p[5] = 2;
  EXPECT_EQ(decode_query(p, r), DecodeStatus::FormErr);
  auto q = query("example.org", 1);
  q.resize(q.size() - 2);
  EXPECT_EQ(decode_query(q, r), DecodeStatus::FormErr);
  auto trailing = query("example.org", 1);
  trailing.push_back(0);
  EXPECT_EQ(decode_query(trailing, r), DecodeStatus::FormErr);
}

TEST(Decode, CompressionLoopsAndForwardPointers) {
  Request r;
  std::vector<uint8_t> loop = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
  EXPECT_EQ(decode_query(loop, r), DecodeStatus::FormErr);
  std::vector<uint8_t> forward = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 40, 0, 1, 0, 1};
  EXPECT_EQ(decode_query(forward, r), DecodeStatus::FormErr);
  std::vector<uint8_t> into_header = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 2, 0, 1, 0, 1};
  EXPECT_EQ(decode_query(into_header, r), DecodeStatus::FormErr);
}

TEST(Decode, ReadNameFollowsBackwardPointer) {
  // header, then "a.b." at 12, then a name "c" + pointer to 14 ("b.").
  std::vector<uint8_t> p = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 1, 'b', 0, 1, 'c', 0xc0, 14};
  size_t offset = 17;
  Name n;
  ASSERT_TRUE(read_name(p, offset, n));
  EXPECT_EQ(n.to_text(), "c.b.");
  EXPECT_EQ(offset, p.size());
}

TEST(Decode, OverlongNameRejected) {
  std::string name;
  for (int i = 0; i < 5; ++i) name += std::string(60, 'x') + ".";
  name.pop_back();
  Request r;
  auto p = query(name, 1);
  EXPECT_EQ(decode_query(p, r), DecodeStatus::FormErr);
}

namespace {
// Appends a record to the section counted at header offset `count_at` (6 answer, 8
// authority, 10 additional); the owner is a pointer to the question name.
void add_record(std::vector<uint8_t>& p, size_t count_at, uint16_t type, uint16_t rclass, uint32_t ttl,
                std::vector<uint8_t> rdata, std::vector<uint8_t> owner = {0xc0, 12}) {
  p[count_at + 1] += 1;
  p.insert(p.end(), owner.begin(), owner.end());
  const uint8_t fixed[] = {static_cast<uint8_t>(type >> 8),  static_cast<uint8_t>(type),
                           static_cast<uint8_t>(rclass >> 8), static_cast<uint8_t>(rclass),
                           static_cast<uint8_t>(ttl >> 24),   static_cast<uint8_t>(ttl >> 16),
                           static_cast<uint8_t>(ttl >> 8),    static_cast<uint8_t>(ttl),
                           static_cast<uint8_t>(rdata.size() >> 8), static_cast<uint8_t>(rdata.size())};
  p.insert(p.end(), std::begin(fixed), std::end(fixed));
  p.insert(p.end(), rdata.begin(), rdata.end());
}
// SOA rdata with root mname and rname and `serial`.
std::vector<uint8_t> soa_rdata(uint32_t serial) {
  std::vector<uint8_t> r = {0, 0, static_cast<uint8_t>(serial >> 24), static_cast<uint8_t>(serial >> 16),
                            static_cast<uint8_t>(serial >> 8), static_cast<uint8_t>(serial)};
  r.resize(r.size() + 16, 0);
  return r;
}
// TSIG rdata: hmac-sha256., time 1, fudge 300, a MAC of `mac_size` octets, original ID,
// error 0, no other data.
std::vector<uint8_t> tsig_rdata(size_t mac_size = 32) {
  std::vector<uint8_t> r = {11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0, 0, 0, 0, 0, 0, 1, 1, 44};
  r.push_back(static_cast<uint8_t>(mac_size >> 8));
  r.push_back(static_cast<uint8_t>(mac_size));
  r.resize(r.size() + mac_size, 0xab);
  const uint8_t tail[] = {0x12, 0x34, 0, 0, 0, 0};
  r.insert(r.end(), std::begin(tail), std::end(tail));
  return r;
}
}  // namespace

TEST(Decode, RecordsInAnswerAndAuthorityThatParseAreAccepted) {
  Request r;
  auto p = query("example.org", 1);
  add_record(p, 6, 1, 1, 60, {192, 0, 2, 1});
  add_record(p, 8, 2, 1, 60, {0xc0, 12});
  ASSERT_EQ(decode_query(p, r), DecodeStatus::Ok);
  EXPECT_FALSE(r.ixfr_serial);
  EXPECT_EQ(r.packet.data(), p.data());
  EXPECT_EQ(r.packet.size(), p.size());

  auto cut = query("example.org", 1);
  add_record(cut, 8, 1, 1, 60, {192, 0, 2, 1});
  cut[cut.size() - 5] = 9;  // rdlength past the end
  EXPECT_EQ(decode_query(cut, r), DecodeStatus::FormErr);

  auto opt_in_answer = query("example.org", 1);
  add_record(opt_in_answer, 6, 41, 1232, 0, {}, {0});
  EXPECT_EQ(decode_query(opt_in_answer, r), DecodeStatus::FormErr);
}

TEST(Decode, IxfrSerialFromTheAuthoritySoa) {
  Request r;
  auto p = query("Example.org", rrtype::IXFR);
  add_record(p, 8, rrtype::SOA, 1, 0, soa_rdata(2026113001));
  ASSERT_EQ(decode_query(p, r), DecodeStatus::Ok);
  ASSERT_TRUE(r.ixfr_serial);
  EXPECT_EQ(*r.ixfr_serial, 2026113001u);

  struct Case {
    const char* what;
    std::vector<uint8_t> packet;
  };
  auto without_soa = query("example.org", rrtype::IXFR);
  auto other_owner = query("example.org", rrtype::IXFR);
  add_record(other_owner, 8, rrtype::SOA, 1, 0, soa_rdata(1), {3, 'o', 'r', 'g', 0});
  auto short_soa = query("example.org", rrtype::IXFR);
  auto rdata = soa_rdata(1);
  rdata.pop_back();
  add_record(short_soa, 8, rrtype::SOA, 1, 0, rdata);
  auto two_soas = query("example.org", rrtype::IXFR);
  add_record(two_soas, 8, rrtype::SOA, 1, 0, soa_rdata(1));
  add_record(two_soas, 8, rrtype::SOA, 1, 0, soa_rdata(2));
  for (const auto& c : {Case{"no SOA", without_soa}, Case{"SOA owner not the question", other_owner},
                        Case{"SOA rdata short", short_soa}, Case{"two SOAs", two_soas}})
    EXPECT_EQ(decode_query(c.packet, r), DecodeStatus::FormErr) << c.what;

  auto soa_query = query("example.org", rrtype::SOA);  // not IXFR: the SOA is just a record
  add_record(soa_query, 8, rrtype::SOA, 1, 0, soa_rdata(7));
  ASSERT_EQ(decode_query(soa_query, r), DecodeStatus::Ok);
  EXPECT_FALSE(r.ixfr_serial);
}

TEST(Decode, TsigMustBeTheLastAdditionalRecord) {
  const std::vector<uint8_t> key = {3, 'k', 'e', 'y', 0};
  Request r;
  auto p = query("example.org", 6);
  add_opt(p, 1232);
  const size_t tsig_at = p.size();
  add_record(p, 10, 250, rrclass::ANY, 0, tsig_rdata(), key);
  ASSERT_EQ(decode_query(p, r), DecodeStatus::Ok);
  EXPECT_EQ(r.tsig_offset, tsig_at);
  EXPECT_TRUE(r.edns.present);

  auto plain = query("example.org", 6);
  ASSERT_EQ(decode_query(plain, r), DecodeStatus::Ok);
  EXPECT_EQ(r.tsig_offset, 0);

  struct Case {
    const char* what;
    std::vector<uint8_t> packet;
  };
  auto before_opt = query("example.org", 6);
  add_record(before_opt, 10, 250, rrclass::ANY, 0, tsig_rdata(), key);
  add_opt(before_opt, 1232);
  auto in_authority = query("example.org", 6);
  add_record(in_authority, 8, 250, rrclass::ANY, 0, tsig_rdata(), key);
  auto class_in = query("example.org", 6);
  add_record(class_in, 10, 250, rrclass::IN, 0, tsig_rdata(), key);
  auto with_ttl = query("example.org", 6);
  add_record(with_ttl, 10, 250, rrclass::ANY, 5, tsig_rdata(), key);
  auto bad_mac_size = query("example.org", 6);
  auto rdata = tsig_rdata();
  rdata[22] = 40;  // MAC size past the rdata
  add_record(bad_mac_size, 10, 250, rrclass::ANY, 0, rdata, key);
  for (const auto& c : {Case{"TSIG before OPT", before_opt}, Case{"TSIG in authority", in_authority},
                        Case{"TSIG class IN", class_in}, Case{"TSIG TTL 5", with_ttl},
                        Case{"TSIG MAC size past its rdata", bad_mac_size}})
    EXPECT_EQ(decode_query(c.packet, r), DecodeStatus::FormErr) << c.what;
}
