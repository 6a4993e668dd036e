#include "dns/writer.h"

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <memory>
#include <vector>

#include "dns/rdata.h"

using namespace stsd::dns;

namespace {
using PacketPtr = std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)>;

PacketPtr parse(std::span<const uint8_t> wire) {
  ldns_pkt* pkt = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&pkt, wire.data(), wire.size()), LDNS_STATUS_OK);
  return PacketPtr(pkt, ldns_pkt_free);
}

Request make_request(const std::string& qname, uint16_t type, bool edns = false, uint16_t udp = 1232) {
  Request r;
  r.id = 77;
  r.flags = flag::RD;
  r.has_question = true;
  r.question.original = *Name::from_text(qname);
  r.question.name = r.question.original.lowered();
  r.question.type = type;
  r.question.rclass = rrclass::IN;
  r.edns.present = edns;
  r.edns.udp_size = udp;
  return r;
}

struct Fixture {
  std::vector<uint8_t> buffer = std::vector<uint8_t>(ResponseWriter::kMaxMessage);
  ResponseWriter writer{buffer};
};
}  // namespace

TEST(Writer, HeaderQuestionAndFlags) {
  Fixture f;
  auto req = make_request("WWW.Example.org.", rrtype::A);
  f.writer.begin(req, 512);
  f.writer.start(Rcode::NoError, true);
  auto a = address_rdata(boost::asio::ip::make_address("192.0.2.1"));
  ASSERT_TRUE(f.writer.add(Section::Answer, {req.question.name, rrtype::A, rrclass::IN, 300, a}));
  auto pkt = parse(f.writer.finish());
  EXPECT_EQ(ldns_pkt_id(pkt.get()), 77);
  EXPECT_TRUE(ldns_pkt_qr(pkt.get()));
  EXPECT_TRUE(ldns_pkt_aa(pkt.get()));
  EXPECT_TRUE(ldns_pkt_rd(pkt.get()));
  EXPECT_FALSE(ldns_pkt_ra(pkt.get()));
  EXPECT_EQ(ldns_pkt_ancount(pkt.get()), 1);
  // The question keeps the client's case.
  char* q = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(pkt.get()), 0)));
  EXPECT_STREQ(q, "WWW.Example.org.");
  free(q);
}

TEST(Writer, UnansweredIsRefused) {
  Fixture f;
  auto req = make_request("x.test.", rrtype::A);
  f.writer.begin(req, 512);
  auto pkt = parse(f.writer.finish());
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_REFUSED);
  EXPECT_FALSE(ldns_pkt_aa(pkt.get()));
}

TEST(Writer, CompressionShrinksRepeatedNames) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::NS);
  f.writer.begin(req, 512);
  f.writer.start(Rcode::NoError, true);
  auto ns1 = name_rdata(*Name::from_text("ns1.example.org."));
  auto ns2 = name_rdata(*Name::from_text("ns2.example.org."));
  ASSERT_TRUE(f.writer.add(Section::Answer, {req.question.name, rrtype::NS, rrclass::IN, 300, ns1}));
  ASSERT_TRUE(f.writer.add(Section::Answer, {req.question.name, rrtype::NS, rrclass::IN, 300, ns2}));
  auto wire = f.writer.finish();
  // header 12 + question 17 + 2 * (owner ptr 2 + 10 + "ns1"+ptr 6) = 65
  EXPECT_EQ(wire.size(), 65u);
  auto pkt = parse(wire);
  char* text = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(pkt.get()), 1), 0));
  EXPECT_STREQ(text, "ns2.example.org.");
  free(text);
}

TEST(Writer, OptEchoedWithOurSize) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::A, true, 4096);
  f.writer.begin(req, req.max_response_size(1232), 1232);
  f.writer.start(Rcode::NoError, true);
  auto pkt = parse(f.writer.finish());
  EXPECT_EQ(ldns_pkt_edns_udp_size(pkt.get()), 1232);
  EXPECT_EQ(ldns_pkt_edns_version(pkt.get()), 0);
}

TEST(Writer, TruncationSetsTcAndEmptiesSections) {
  Fixture f;
  auto req = make_request("big.example.org.", rrtype::TXT);
  f.writer.begin(req, 512);
  f.writer.start(Rcode::NoError, true);
  auto txt = txt_rdata(std::string(200, 'x'));
  int added = 0;
  for (int i = 0; i < 5; ++i)
    added += f.writer.add(Section::Answer, {req.question.name, rrtype::TXT, rrclass::IN, 300, txt});
  EXPECT_EQ(added, 2);
  auto pkt = parse(f.writer.finish());
  EXPECT_TRUE(ldns_pkt_tc(pkt.get()));
  EXPECT_EQ(ldns_pkt_ancount(pkt.get()), 0);
  EXPECT_TRUE(ldns_pkt_aa(pkt.get()));
}

TEST(Writer, OptionalAdditionalIsDroppedWithoutTc) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::TXT);
  f.writer.begin(req, 512);
  f.writer.start(Rcode::NoError, true);
  auto txt = txt_rdata(std::string(200, 'x'));
  ASSERT_TRUE(f.writer.add(Section::Answer, {req.question.name, rrtype::TXT, rrclass::IN, 300, txt}));
  ASSERT_TRUE(f.writer.add(Section::Additional, {req.question.name, rrtype::TXT, rrclass::IN, 300, txt}));
  EXPECT_FALSE(f.writer.add(Section::Additional, {req.question.name, rrtype::TXT, rrclass::IN, 300, txt}));
  auto pkt = parse(f.writer.finish());
  EXPECT_FALSE(ldns_pkt_tc(pkt.get()));
  EXPECT_EQ(ldns_pkt_ancount(pkt.get()), 1);
  EXPECT_EQ(ldns_pkt_arcount(pkt.get()), 1);
}

TEST(Writer, SectionsMustBeInOrder) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::A);
  f.writer.begin(req, 512);
  f.writer.start(Rcode::NoError, true);
  auto a = address_rdata(boost::asio::ip::make_address("192.0.2.1"));
  ASSERT_TRUE(f.writer.add(Section::Authority, {req.question.name, rrtype::A, rrclass::IN, 1, a}));
  EXPECT_FALSE(f.writer.add(Section::Answer, {req.question.name, rrtype::A, rrclass::IN, 1, a}));
}

TEST(Writer, NegativeSoaTtlIsMinimum) {
  Fixture f;
  auto req = make_request("nope.example.org.", rrtype::A);
  f.writer.begin(req, 512);
  f.writer.start(Rcode::NXDomain, true);
  Soa soa{*Name::from_text("ns1.example.org."), *Name::from_text("hostmaster.example.org."), 1, 2, 3, 4, 60};
  auto zone = *Name::from_text("example.org.");
  ASSERT_TRUE(add_negative_soa(f.writer, zone, 3600, soa_rdata(soa)));
  auto pkt = parse(f.writer.finish());
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN);
  ASSERT_EQ(ldns_pkt_nscount(pkt.get()), 1);
  EXPECT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(pkt.get()), 0)), 60u);
}

TEST(Writer, BadversCarriesExtendedRcode) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::A, true);
  auto wire = f.writer.error_response(req, Rcode::BadVers, true);
  ASSERT_GE(wire.size(), 12u + 11u);
  // Header rcode holds the low 4 bits (0); OPT's TTL high octet holds 16 >> 4 = 1.
  EXPECT_EQ(wire[3] & 0x0f, 0);
  EXPECT_EQ(wire[wire.size() - 6], 1);
}

TEST(Writer, FormerrCarriesOptWhenTheQueryHadOne) {
  Fixture f;
  auto with_opt = make_request("example.org.", rrtype::A, true);
  auto pkt = parse(f.writer.error_response(with_opt, Rcode::FormErr, true));
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_FORMERR);
  EXPECT_EQ(ldns_pkt_edns_udp_size(pkt.get()), kDefaultEdnsBuffer);
  auto without = make_request("example.org.", rrtype::A, false);
  auto plain = parse(f.writer.error_response(without, Rcode::FormErr, true));
  EXPECT_EQ(ldns_pkt_edns_udp_size(plain.get()), 0);
}

// Room reserved for a record appended after finish() (TSIG) is kept free by the records
// added before, and the appended record lands last, after OPT.
TEST(Writer, ReservedTailKeepsRoomForARecordAppendedAfterFinish) {
  const auto txt = txt_rdata(std::string(200, 'x'));
  const std::vector<uint8_t> tail_record = {0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 3, 2, 'h', 'i'};  // ". TXT "hi""
  {
    Fixture f;
    auto req = make_request("example.org.", rrtype::TXT, true, 512);
    f.writer.begin(req, 512);
    f.writer.reserve_tail(tail_record.size());
    f.writer.start(Rcode::NoError, true);
    size_t added = 0;
    while (f.writer.add(Section::Answer, {req.question.name, rrtype::TXT, rrclass::IN, 60, txt})) ++added;
    ASSERT_GT(added, 1u);
    f.writer.start(Rcode::NoError, true);  // as many as fit: the message is full
    for (size_t i = 0; i < added; ++i)
      f.writer.add(Section::Answer, {req.question.name, rrtype::TXT, rrclass::IN, 60, txt});
    EXPECT_FALSE(f.writer.append_after_finish(tail_record)) << "only after finish";
    f.writer.finish();
    ASSERT_TRUE(f.writer.append_after_finish(tail_record));
    EXPECT_LE(f.writer.size(), 512u);
    auto pkt = parse(f.writer.message());
    ASSERT_EQ(ldns_pkt_arcount(pkt.get()), 1);  // ldns takes OPT out of the section
    EXPECT_EQ(ldns_pkt_edns_udp_size(pkt.get()), kDefaultEdnsBuffer);
    EXPECT_EQ(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_additional(pkt.get()), 0)), LDNS_RR_TYPE_TXT);
  }
}

TEST(Writer, AppendAfterFinishRefusesPastTheLimit) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::A);
  f.writer.begin(req, 40);
  f.writer.start(Rcode::NoError, true);
  f.writer.finish();
  const auto before = f.writer.size();
  const std::vector<uint8_t> big(40 - before + 1, 0);
  EXPECT_FALSE(f.writer.append_after_finish(big));
  EXPECT_EQ(f.writer.size(), before);
  EXPECT_TRUE(f.writer.append_after_finish(std::span(big).first(big.size() - 1)));
  EXPECT_EQ(f.writer.size(), 40u);
}

namespace {
// The OPT record's options as ldns read them: (code, data) pairs.
std::vector<std::pair<uint16_t, std::vector<uint8_t>>> options_of(const PacketPtr& pkt) {
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> out;
  const ldns_rdf* data = ldns_pkt_edns_data(pkt.get());
  if (!data) return out;
  const uint8_t* p = ldns_rdf_data(data);
  const size_t size = ldns_rdf_size(data);
  for (size_t at = 0; at + 4 <= size;) {
    const uint16_t code = static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
    const size_t length = static_cast<size_t>(p[at + 2] << 8 | p[at + 3]);
    out.push_back({code, std::vector<uint8_t>(p + at + 4, p + at + 4 + length)});
    at += 4 + length;
  }
  return out;
}
}  // namespace

TEST(Writer, DoBitIsCopiedFromTheQuery) {
  for (bool dnssec_ok : {false, true}) {
    Fixture f;
    auto req = make_request("example.org.", rrtype::A, true);
    req.edns.dnssec_ok = dnssec_ok;
    f.writer.begin(req, 1232);
    f.writer.start(Rcode::NoError, true);
    auto pkt = parse(f.writer.finish());
    EXPECT_EQ(ldns_pkt_edns_do(pkt.get()), dnssec_ok);
  }
}

TEST(Writer, OptionsOutliveStartAndLeaveInTheOrderAdded) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::A, true);
  f.writer.begin(req, 1232);
  const uint8_t cookie[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  ASSERT_TRUE(f.writer.add_option(10, cookie));
  f.writer.start(Rcode::NoError, true);  // a later plugin answers: the cookie stays
  ASSERT_TRUE(f.writer.add_extended_error(18, "denied"));
  auto a = address_rdata(boost::asio::ip::make_address("192.0.2.1"));
  ASSERT_TRUE(f.writer.add(Section::Answer, {req.question.name, rrtype::A, rrclass::IN, 300, a}));
  auto pkt = parse(f.writer.finish());
  EXPECT_EQ(ldns_pkt_ancount(pkt.get()), 1);
  const auto options = options_of(pkt);
  ASSERT_EQ(options.size(), 2u);
  EXPECT_EQ(options[0].first, 10);
  EXPECT_EQ(options[0].second, std::vector<uint8_t>(std::begin(cookie), std::end(cookie)));
  EXPECT_EQ(options[1].first, 15);
  EXPECT_EQ(options[1].second, (std::vector<uint8_t>{0, 18, 'd', 'e', 'n', 'i', 'e', 'd'}));
}

TEST(Writer, NoOptionWithoutEdnsAndBeginClearsThem) {
  Fixture f;
  auto plain = make_request("example.org.", rrtype::A, false);
  f.writer.begin(plain, 512);
  EXPECT_FALSE(f.writer.add_option(3, std::span<const uint8_t>()));  // RFC 6891 §7: no OPT, no options
  auto edns = make_request("example.org.", rrtype::A, true);
  f.writer.begin(edns, 1232);
  ASSERT_TRUE(f.writer.add_option(3, std::span<const uint8_t>()));
  f.writer.begin(edns, 1232);
  f.writer.start(Rcode::NoError, true);
  EXPECT_TRUE(options_of(parse(f.writer.finish())).empty());
}

TEST(Writer, OptionsTakeTheirRoomBeforeRecords) {
  constexpr uint16_t kPrivateType = 65280;  // opaque rdata (RFC 3597), any bytes parse
  Fixture f;
  auto req = make_request("example.org.", rrtype::TXT, true, 512);
  f.writer.begin(req, 512);
  const std::vector<uint8_t> big(400, 0x55);
  ASSERT_TRUE(f.writer.add_option(65001, big));
  f.writer.start(Rcode::NoError, true);
  const std::vector<uint8_t> txt(100, 'a');  // fits 512 alone, not after the option
  EXPECT_FALSE(f.writer.add(Section::Answer, {req.question.name, kPrivateType, rrclass::IN, 300, txt}));
  auto wire = f.writer.finish();
  EXPECT_LE(wire.size(), 512u);
  auto pkt = parse(wire);
  EXPECT_TRUE(ldns_pkt_tc(pkt.get()));
  EXPECT_EQ(options_of(pkt).size(), 1u);
  // An option that would not fit what is already written is refused, the message intact.
  Fixture g;
  g.writer.begin(req, 512);
  g.writer.start(Rcode::NoError, true);
  const std::vector<uint8_t> fits(400, 'a');
  ASSERT_TRUE(g.writer.add(Section::Answer, {req.question.name, kPrivateType, rrclass::IN, 300, fits}));
  EXPECT_FALSE(g.writer.add_option(65001, big));
  EXPECT_EQ(ldns_pkt_ancount(parse(g.writer.finish()).get()), 1);
}

TEST(Writer, DroppedAnswerIsEmpty) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::A, true);
  f.writer.begin(req, 1232);
  f.writer.start(Rcode::NoError, true);
  f.writer.drop();
  EXPECT_TRUE(f.writer.finish().empty());
  EXPECT_TRUE(f.writer.dropped());
  f.writer.begin(req, 1232);  // the next query starts afresh
  EXPECT_FALSE(f.writer.dropped());
  EXPECT_FALSE(f.writer.finish().empty());
}

TEST(Writer, TruncatedAnswerKeepsRcodeAndOptions) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::A, true);
  f.writer.begin(req, 1232);
  const uint8_t nsid[] = {'n', 's', '1'};
  ASSERT_TRUE(f.writer.add_option(3, nsid));
  f.writer.start(Rcode::NXDomain, true);
  auto soa = name_rdata(*Name::from_text("ns.example.org."));
  f.writer.add(Section::Authority, {req.question.name, rrtype::NS, rrclass::IN, 300, soa});
  f.writer.truncate();
  auto pkt = parse(f.writer.finish());
  EXPECT_TRUE(ldns_pkt_tc(pkt.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(ldns_pkt_ancount(pkt.get()) + ldns_pkt_nscount(pkt.get()), 0);
  ASSERT_EQ(options_of(pkt).size(), 1u);
  EXPECT_EQ(options_of(pkt)[0].first, 3);
}

TEST(Writer, BadCookieIsAnExtendedRcode) {
  Fixture f;
  auto req = make_request("example.org.", rrtype::A, true);
  f.writer.begin(req, 1232);
  f.writer.start(Rcode::BadCookie, false);
  auto wire = f.writer.finish();
  EXPECT_EQ(wire[3] & 0x0f, 23 & 0x0f);  // lower four bits in the header
  auto pkt = parse(wire);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(pkt.get()), 23 >> 4);  // upper eight in OPT (RFC 6891 §6.1.3)
}
