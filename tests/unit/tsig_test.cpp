// TSIG (RFC 8945): our client and server sides against each other, the error answers,
// and kdig (Knot's client) signing queries we verify and verifying answers we sign.
#include "dns/tsig.h"

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <algorithm>
#include <array>
#include <memory>
#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>
#include <future>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "dns/rdata.h"

using namespace stsd::dns;
namespace asio = boost::asio;

namespace {
constexpr int64_t kNow = 1'790'000'000;
const char* const kSecret = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seSEhIQ==";

tsig::Key key(const std::string& name = "xfr-key.", tsig::Algorithm algorithm = tsig::Algorithm::HmacSha256) {
  return tsig::Key{*Name::from_text(name), algorithm, *tsig::decode_secret(kSecret)};
}

// A query for `name`/`type` with ID 0x4242, built by hand.
std::vector<uint8_t> query(const std::string& name, uint16_t type) {
  std::vector<uint8_t> p = {0x42, 0x42, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  const auto wire = Name::from_text(name)->wire();
  p.insert(p.end(), wire.begin(), wire.end());
  const uint8_t tail[] = {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1};
  p.insert(p.end(), std::begin(tail), std::end(tail));
  return p;
}

struct Response {
  std::vector<uint8_t> buffer = std::vector<uint8_t>(ResponseWriter::kMaxMessage);
  ResponseWriter writer{buffer};
};

// Answers `request` with one A record, signed by `signer`.
std::vector<uint8_t> signed_answer(const Request& request, tsig::ResponseSigner& signer, int64_t now,
                                   uint8_t last_octet = 1) {
  Response r;
  r.writer.begin(request, request.max_response_size());
  signer.reserve(r.writer);
  r.writer.start(Rcode::NoError, true);
  const uint8_t address[] = {192, 0, 2, last_octet};
  r.writer.add(Section::Answer, {request.question.name, rrtype::A, rrclass::IN, 60, address});
  EXPECT_TRUE(signer.sign(r.writer, now));
  const auto m = r.writer.message();
  return {m.begin(), m.end()};
}

uint16_t get16(std::span<const uint8_t> p, size_t at) { return static_cast<uint16_t>(p[at] << 8 | p[at + 1]); }
}  // namespace

TEST(Tsig, AlgorithmsAndSecrets) {
  EXPECT_EQ(tsig::algorithm_from_text("HMAC-SHA256."), tsig::Algorithm::HmacSha256);
  EXPECT_EQ(tsig::algorithm_from_text("hmac-sha1"), tsig::Algorithm::HmacSha1);
  EXPECT_EQ(tsig::algorithm_from_text("hmac-sha512"), tsig::Algorithm::HmacSha512);
  EXPECT_FALSE(tsig::algorithm_from_text("hmac-md5"));
  EXPECT_EQ(tsig::algorithm_name(tsig::Algorithm::HmacSha384).to_text(), "hmac-sha384.");
  EXPECT_EQ(*tsig::decode_secret("aGk="), (std::vector<uint8_t>{'h', 'i'}));
  EXPECT_EQ(*tsig::decode_secret("aA=="), (std::vector<uint8_t>{'h'}));
  EXPECT_EQ(*tsig::decode_secret("aGlo"), (std::vector<uint8_t>{'h', 'i', 'h'}));
  for (const char* bad : {"", "aGk", "aG=k", "a===", "aGk!", "=aGk"})
    EXPECT_FALSE(tsig::decode_secret(bad)) << bad;
}

// Our client side signs, our server side verifies and answers, the client checks the
// answer: for every algorithm.
TEST(Tsig, SignedRequestVerifiesAndTheAnswerToo) {
  for (auto algorithm : {tsig::Algorithm::HmacSha1, tsig::Algorithm::HmacSha224, tsig::Algorithm::HmacSha256,
                         tsig::Algorithm::HmacSha384, tsig::Algorithm::HmacSha512}) {
    const auto k = key("Xfr-Key.", algorithm);
    const std::vector<tsig::Key> keys = {key("other."), key("xfr-key.", algorithm)};
    auto message = query("example.org.", rrtype::SOA);
    const auto mac = tsig::sign_request(message, k, kNow);
    Request request;
    ASSERT_EQ(decode_query(message, request), DecodeStatus::Ok);
    ASSERT_NE(request.tsig_offset, 0);
    const auto check = tsig::verify_request(request, keys, kNow + 10);
    ASSERT_TRUE(check.present);
    EXPECT_EQ(check.error, tsig::Error::None);
    EXPECT_EQ(check.key, &keys[1]);
    EXPECT_EQ(check.key_name.to_text(), "xfr-key.");

    tsig::ResponseSigner signer(check);
    const auto answer = signed_answer(request, signer, kNow + 11);
    EXPECT_EQ(get16(answer, 0), 0x4242);
    EXPECT_EQ(tsig::verify_response(answer, k, mac, kNow + 12), tsig::Error::None);
    // Checked against the MAC of another request, the answer does not verify.
    auto other = query("example.org.", rrtype::SOA);
    const auto other_mac = tsig::sign_request(other, k, kNow + 1);
    EXPECT_EQ(tsig::verify_response(answer, k, other_mac, kNow + 12), tsig::Error::BadSig);
  }
}

TEST(Tsig, VerifyRequestErrors) {
  const std::vector<tsig::Key> keys = {key()};
  auto signed_query = [](const tsig::Key& with, int64_t at) {
    auto m = query("example.org.", rrtype::AXFR);
    tsig::sign_request(m, with, at);
    return m;
  };
  struct Case {
    const char* what;
    std::vector<uint8_t> message;
    int64_t now;
    tsig::Error error;
    bool key_set;
  };
  auto tampered = signed_query(key(), kNow);
  tampered[13] ^= 0x20;  // a letter of the question changes case
  auto wrong_secret = key();
  wrong_secret.secret[0] ^= 1;
  std::vector<Case> cases = {
      {"unsigned", query("example.org.", rrtype::AXFR), kNow, tsig::Error::None, false},
      {"good", signed_query(key(), kNow), kNow + 300, tsig::Error::None, true},
      {"unknown key name", signed_query(key("nobody."), kNow), kNow, tsig::Error::BadKey, false},
      {"known name, other algorithm", signed_query(key("xfr-key.", tsig::Algorithm::HmacSha1), kNow), kNow,
       tsig::Error::BadKey, false},
      {"wrong secret", signed_query(wrong_secret, kNow), kNow, tsig::Error::BadSig, false},
      {"message changed after signing", tampered, kNow, tsig::Error::BadSig, false},
      {"past the fudge", signed_query(key(), kNow), kNow + 301, tsig::Error::BadTime, true},
      {"before the fudge", signed_query(key(), kNow), kNow - 301, tsig::Error::BadTime, true},
  };
  for (auto& c : cases) {
    Request request;
    ASSERT_EQ(decode_query(c.message, request), DecodeStatus::Ok) << c.what;
    const auto check = tsig::verify_request(request, keys, c.now);
    EXPECT_EQ(check.present, request.tsig_offset != 0) << c.what;
    EXPECT_EQ(check.error, c.error) << c.what;
    EXPECT_EQ(check.key != nullptr, c.key_set) << c.what;
  }
}

// RFC 8945 §5.2: BADKEY and BADSIG are answered unsigned, BADTIME signed with the
// server's time in Other Data.
TEST(Tsig, ErrorResponses) {
  const std::vector<tsig::Key> keys = {key()};
  for (const bool late : {false, true}) {
    auto message = query("example.org.", rrtype::AXFR);
    auto signing_key = key();
    if (!late) signing_key.secret[0] ^= 1;
    const auto mac = tsig::sign_request(message, signing_key, kNow);
    Request request;
    ASSERT_EQ(decode_query(message, request), DecodeStatus::Ok);
    const auto check = tsig::verify_request(request, keys, late ? kNow + 1000 : kNow);
    ASSERT_EQ(check.error, late ? tsig::Error::BadTime : tsig::Error::BadSig);
    Response r;
    r.writer.begin(request, request.max_response_size());
    tsig::write_error_response(r.writer, check, kNow + 1000);
    const auto answer = r.writer.message();
    EXPECT_EQ(answer[3] & 0x0f, tsig::kNotAuth);
    EXPECT_EQ(get16(answer, 10), 1);  // the TSIG alone
    EXPECT_EQ(tsig::verify_response(answer, key(), mac, kNow + 1000), check.error);
    // The MAC size field: 0 when unsigned, 32 for a signed BADTIME.
    const size_t mac_size_at = answer.size() - (late ? 6 + 6 + 32 : 6) - 2;
    EXPECT_EQ(get16(answer, mac_size_at), late ? 32 : 0);
    if (late) {  // Other Data: the server's time
      const auto other = answer.subspan(answer.size() - 6);
      uint64_t t = 0;
      for (auto b : other) t = t << 8 | b;
      EXPECT_EQ(t, static_cast<uint64_t>(kNow + 1000));
    }
  }
}

// The messages of a multi-message answer: each MAC covers the previous one (RFC 8945
// §5.3.1), so the second message does not verify as a first one, and the signer refuses
// a message with no room left.
TEST(Tsig, SignerChainsMessagesAndRespectsTheSizeLimit) {
  const std::vector<tsig::Key> keys = {key()};
  auto message = query("example.org.", rrtype::AXFR);
  const auto mac = tsig::sign_request(message, key(), kNow);
  Request request;
  request.transport = Transport::Tcp;
  ASSERT_EQ(decode_query(message, request), DecodeStatus::Ok);
  const auto check = tsig::verify_request(request, keys, kNow);
  tsig::ResponseSigner signer(check);
  const auto first = signed_answer(request, signer, kNow, 1);
  const auto second = signed_answer(request, signer, kNow, 1);
  EXPECT_EQ(tsig::verify_response(first, key(), mac, kNow), tsig::Error::None);
  EXPECT_EQ(tsig::verify_response(second, key(), mac, kNow), tsig::Error::BadSig);

  tsig::ResponseSigner full_signer(check);
  Response r;
  r.writer.begin(request, 60);
  r.writer.start(Rcode::NoError, true);
  EXPECT_FALSE(full_signer.sign(r.writer, kNow)) << "no room reserved in a 60-octet message";
}

// ---- kdig interoperability -------------------------------------------------------------

namespace {
// Runs kdig against a one-connection TCP server on loopback: `serve` gets the query kdig
// sent and returns the messages to send back. Returns kdig's output.
std::string kdig_against(const std::string& kdig_args,
                         const std::function<std::vector<std::vector<uint8_t>>(std::vector<uint8_t>)>& serve) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  const std::string command = "kdig +tcp +retry=0 +time=5 @127.0.0.1 -p " + std::to_string(port) + " " + kdig_args +
                              " 2>&1";
  auto output = std::async(std::launch::async, [command] {
    std::string text;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return text;
    std::array<char, 4096> chunk;
    while (size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe)) text.append(chunk.data(), n);
    ::pclose(pipe);
    return text;
  });
  auto socket = acceptor.accept();
  uint8_t length[2];
  asio::read(socket, asio::buffer(length));
  std::vector<uint8_t> received(static_cast<size_t>(length[0] << 8 | length[1]));
  asio::read(socket, asio::buffer(received));
  for (const auto& m : serve(received)) {
    const uint8_t prefix[2] = {static_cast<uint8_t>(m.size() >> 8), static_cast<uint8_t>(m.size())};
    boost::system::error_code ignored;  // kdig may stop reading at a message it rejects
    asio::write(socket, std::array{asio::buffer(prefix), asio::buffer(m)}, ignored);
  }
  boost::system::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  return output.get();
}

std::string kdig_key(const std::string& secret = kSecret) { return "-y hmac-sha256:xfr-key:" + secret; }

// An AXFR-shaped answer of three messages (SOA, A, SOA), each signed; `corrupt` flips a
// MAC octet of the message at that index (-1: none).
std::vector<std::vector<uint8_t>> signed_transfer(const std::vector<uint8_t>& query_bytes, int corrupt,
                                                  tsig::Error* verdict) {
  static const std::vector<tsig::Key> keys = {key()};
  Request request;
  request.transport = Transport::Tcp;
  if (decode_query(query_bytes, request) != DecodeStatus::Ok) return {};
  const auto check = tsig::verify_request(request, keys, std::time(nullptr));
  *verdict = check.error;
  if (!check.key) return {};
  tsig::ResponseSigner signer(check);
  const Soa soa{*Name::from_text("ns.example.org."), *Name::from_text("admin.example.org."), 7, 3600, 600, 86400, 60};
  const auto soa_wire = soa_rdata(soa);
  std::vector<std::vector<uint8_t>> messages;
  for (int i = 0; i < 3; ++i) {
    Response r;
    r.writer.begin(request, request.max_response_size());
    signer.reserve(r.writer);
    r.writer.start(Rcode::NoError, true);
    if (i == 1) {
      const uint8_t address[] = {192, 0, 2, 7};
      r.writer.add(Section::Answer, {*Name::from_text("www.example.org."), rrtype::A, rrclass::IN, 60, address});
    } else {
      r.writer.add(Section::Answer, {request.question.name, rrtype::SOA, rrclass::IN, 60, soa_wire});
    }
    EXPECT_TRUE(signer.sign(r.writer, std::time(nullptr)));
    const auto m = r.writer.message();
    messages.emplace_back(m.begin(), m.end());
    if (i == corrupt) messages.back()[messages.back().size() - 10] ^= 1;  // inside the MAC
  }
  return messages;
}
}  // namespace

TEST(TsigKdig, KdigSignedTransferVerifiesAndOurSignedMessagesSatisfyKdig) {
  tsig::Error verdict = tsig::Error::BadKey;
  const auto out = kdig_against(kdig_key() + " example.org AXFR",
                                [&](std::vector<uint8_t> q) { return signed_transfer(q, -1, &verdict); });
  EXPECT_EQ(verdict, tsig::Error::None) << out;
  EXPECT_NE(out.find("www.example.org."), std::string::npos) << out;
  EXPECT_NE(out.find("192.0.2.7"), std::string::npos) << out;
  EXPECT_EQ(out.find(";; WARNING"), std::string::npos) << out;
  EXPECT_EQ(out.find(";; ERROR"), std::string::npos) << out;
}

// kdig checks the first message's TSIG (the later ones are checked with ldns below).
TEST(TsigKdig, KdigRejectsACorruptMacInTheFirstMessage) {
  tsig::Error verdict = tsig::Error::BadKey;
  const auto out = kdig_against(kdig_key() + " example.org AXFR",
                                [&](std::vector<uint8_t> q) { return signed_transfer(q, 0, &verdict); });
  EXPECT_EQ(verdict, tsig::Error::None) << out;
  EXPECT_NE(out.find(";; ERROR: reply verification"), std::string::npos) << out;
  EXPECT_EQ(out.find("192.0.2.7"), std::string::npos) << out;
}

// ldns verifies each message of a multi-message answer, the later ones over the prior
// MAC and the timers only (RFC 8945 §5.3.1).
TEST(TsigLdns, EveryMessageOfATransferVerifies) {
  for (int corrupt : {-1, 1, 2}) {
    auto message = query("example.org.", rrtype::AXFR);
    const auto request_mac = tsig::sign_request(message, key(), std::time(nullptr));
    tsig::Error verdict = tsig::Error::BadKey;
    const auto messages = signed_transfer(message, corrupt, &verdict);
    ASSERT_EQ(messages.size(), 3u);
    std::vector<uint8_t> prior(2 + request_mac.mac_size);
    prior[0] = static_cast<uint8_t>(request_mac.mac_size >> 8);
    prior[1] = static_cast<uint8_t>(request_mac.mac_size);
    std::copy_n(request_mac.mac, request_mac.mac_size, prior.begin() + 2);
    for (size_t i = 0; i < messages.size(); ++i) {
      ldns_pkt* raw = nullptr;
      ASSERT_EQ(ldns_wire2pkt(&raw, messages[i].data(), messages[i].size()), LDNS_STATUS_OK);
      std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)> pkt(raw, ldns_pkt_free);
      std::unique_ptr<ldns_rdf, decltype(&ldns_rdf_deep_free)> mac(
          ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, prior.size(), prior.data()), ldns_rdf_deep_free);
      const bool ok = ldns_pkt_tsig_verify_next(pkt.get(), messages[i].data(), messages[i].size(), "xfr-key.",
                                                kSecret, mac.get(), i > 0 ? 1 : 0);
      EXPECT_EQ(ok, static_cast<int>(i) != corrupt) << "message " << i << ", corrupt " << corrupt;
      const ldns_rdf* this_mac = ldns_rr_rdf(ldns_pkt_tsig(pkt.get()), 3);
      prior.assign(ldns_rdf_data(this_mac), ldns_rdf_data(this_mac) + ldns_rdf_size(this_mac));
      if (static_cast<int>(i) == corrupt) prior[prior.size() - 4] ^= 1;  // the MAC as signed, not as mangled
    }
  }
}

TEST(TsigKdig, WrongSecretGetsAnUnsignedBadsigKdigUnderstands) {
  tsig::Error verdict = tsig::Error::None;
  const auto out = kdig_against(kdig_key("d3Jvbmctc2VjcmV0LWtleS1mb3ItdGVzdHMhISE=") + " example.org SOA",
                                [&](std::vector<uint8_t> q) -> std::vector<std::vector<uint8_t>> {
                                  static const std::vector<tsig::Key> keys = {key()};
                                  Request request;
                                  request.transport = Transport::Tcp;
                                  if (decode_query(q, request) != DecodeStatus::Ok) return {};
                                  const auto check = tsig::verify_request(request, keys, std::time(nullptr));
                                  verdict = check.error;
                                  Response r;
                                  r.writer.begin(request, request.max_response_size());
                                  tsig::write_error_response(r.writer, check, std::time(nullptr));
                                  const auto m = r.writer.message();
                                  return {{m.begin(), m.end()}};
                                });
  EXPECT_EQ(verdict, tsig::Error::BadSig);
  EXPECT_NE(out.find("status: BADSIG"), std::string::npos) << out;  // kdig shows NOTAUTH + TSIG error so
  EXPECT_NE(out.find("BADSIG"), std::string::npos) << out;
}

TEST(TsigKdig, KdigIxfrQueryCarriesTheSerialAndVerifies) {
  tsig::Error verdict = tsig::Error::BadKey;
  std::optional<uint32_t> serial;
  kdig_against(kdig_key() + " example.org IXFR=2026113001", [&](std::vector<uint8_t> q) {
    static const std::vector<tsig::Key> keys = {key()};
    Request request;
    if (decode_query(q, request) == DecodeStatus::Ok) {
      serial = request.ixfr_serial;
      verdict = tsig::verify_request(request, keys, std::time(nullptr)).error;
    }
    return std::vector<std::vector<uint8_t>>{};
  });
  EXPECT_EQ(verdict, tsig::Error::None);
  ASSERT_TRUE(serial);
  EXPECT_EQ(*serial, 2026113001u);
}
