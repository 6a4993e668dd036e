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
