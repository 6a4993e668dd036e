// The fetcher's classification of what a policy host answers (RFC 8461 §3.3 as the
// strictest senders apply it, and conditional requests), its set of idle connections,
// and its network bounds on loopback (conditional fetches and keep-alive against a
// server: fetcher_network_test.cpp).
#include "fetcher.h"

#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>

#include "idle_pool.h"

namespace stsd::confirm {
namespace {

using namespace std::chrono_literals;

struct HeadCase {
  std::string name;
  unsigned status;
  std::string reason, location, content_type;
  std::optional<uint64_t> content_length;
  FetchError expected;
  std::string words;  // a fragment the message must contain ("" for success)
};

class ClassifyHead : public ::testing::TestWithParam<HeadCase> {};

TEST_P(ClassifyHead, NamesTheProblemInPlainWords) {
  const auto& c = GetParam();
  auto result = classify_head(c.status, c.reason, c.location, c.content_type, c.content_length);
  EXPECT_EQ(result.error, c.expected) << result.message;
  if (c.words.empty())
    EXPECT_TRUE(result.ok()) << result.message;
  else
    EXPECT_NE(result.message.find(c.words), std::string::npos) << result.message;
  EXPECT_EQ(result.http_status, c.status);
}

INSTANTIATE_TEST_SUITE_P(
    Responses, ClassifyHead,
    ::testing::Values(
        HeadCase{"ok_text_plain", 200, "OK", "", "text/plain", 100, FetchError::None, ""},
        HeadCase{"ok_with_utf8_charset", 200, "OK", "", "text/plain; charset=utf-8", 100, FetchError::None, ""},
        HeadCase{
            "ok_media_type_case_insensitive", 200, "OK", "", "Text/Plain;Charset=\"UTF-8\"", {}, FetchError::None, ""},
        HeadCase{"ok_exactly_64_kib", 200, "OK", "", "text/plain", 65536, FetchError::None, ""},
        HeadCase{"redirect_301_names_location", 301, "Moved Permanently", "https://www.example.com/mta-sts.txt",
                 "text/html", 0, FetchError::Redirect, "redirect to https://www.example.com/mta-sts.txt (not allowed)"},
        HeadCase{"redirect_307_without_location", 307, "", "", "", 0, FetchError::Redirect,
                 "without a Location (not allowed)"},
        HeadCase{"not_modified_unasked",
                 304,
                 "Not Modified",
                 "",
                 "",
                 {},
                 FetchError::HttpStatus,
                 "HTTP 304 Not Modified to a request without If-None-Match (senders accept only 200)"},
        HeadCase{"not_found", 404, "Not Found", "", "text/html", 150, FetchError::HttpStatus,
                 "HTTP 404 Not Found (senders accept only 200)"},
        HeadCase{"no_content_is_not_200", 204, "No Content", "", "", 0, FetchError::HttpStatus, "HTTP 204"},
        HeadCase{"server_error", 503, "Service Unavailable", "", "text/plain", 0, FetchError::HttpStatus, "HTTP 503"},
        HeadCase{"html_media_type", 200, "OK", "", "text/html; charset=utf-8", 100, FetchError::MediaType,
                 "media type text/html (senders need text/plain)"},
        HeadCase{"octet_stream", 200, "OK", "", "application/octet-stream", 100, FetchError::MediaType,
                 "application/octet-stream"},
        HeadCase{"no_content_type", 200, "OK", "", "", 100, FetchError::MediaType, "no Content-Type"},
        HeadCase{"prefix_is_not_the_type", 200, "OK", "", "text/plainx", 100, FetchError::MediaType, "text/plainx"},
        HeadCase{"declared_oversize", 200, "OK", "", "text/plain", 65537, FetchError::Oversize,
                 "65537 bytes, more than the 64 KiB"}),
    [](const auto& info) { return info.param.name; });

struct BodyCase {
  std::string name;
  std::string body;
  std::string content_type;
  FetchError expected;
  std::string words;
};

class ClassifyBody : public ::testing::TestWithParam<BodyCase> {};

TEST_P(ClassifyBody, AsciiUnlessUtf8IsDeclared) {
  const auto& c = GetParam();
  auto result = classify_body(c.body, c.content_type);
  EXPECT_EQ(result.error, c.expected) << result.message;
  if (c.words.empty()) {
    EXPECT_TRUE(result.ok()) << result.message;
    EXPECT_EQ(result.body, c.body);
  } else {
    EXPECT_NE(result.message.find(c.words), std::string::npos) << result.message;
    EXPECT_TRUE(result.body.empty());
  }
}

const std::string kPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmax_age: 604800\r\n";

INSTANTIATE_TEST_SUITE_P(
    Bodies, ClassifyBody,
    ::testing::Values(
        BodyCase{"ascii_without_charset", kPolicy, "text/plain", FetchError::None, ""},
        BodyCase{"ascii_with_other_charset", kPolicy, "text/plain; charset=iso-8859-1", FetchError::None, ""},
        BodyCase{"non_ascii_without_charset", kPolicy + "# caf\xc3\xa9\r\n", "text/plain", FetchError::Encoding,
                 "non-ASCII bytes (line 5) with no charset"},
        BodyCase{"non_ascii_latin1_charset", "version: STSv1\n\xe9\n", "text/plain; charset=ISO-8859-1",
                 FetchError::Encoding, "charset=iso-8859-1"},
        BodyCase{"valid_utf8_declared", kPolicy + "# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\r\n",
                 "text/plain; charset=utf-8", FetchError::None, ""},
        BodyCase{"utf8_charset_quoted", "mx: a\xc3\xa9\n", "text/plain; charset=\"utf-8\"", FetchError::None, ""},
        BodyCase{"invalid_utf8_lone_continuation", "version: STSv1\n\x80\n", "text/plain; charset=utf-8",
                 FetchError::Encoding, "not valid UTF-8 (line 2)"},
        BodyCase{"invalid_utf8_overlong", "\xc0\x80", "text/plain; charset=utf-8", FetchError::Encoding,
                 "not valid UTF-8"},
        BodyCase{"invalid_utf8_surrogate", "\xed\xa0\x80", "text/plain; charset=utf-8", FetchError::Encoding,
                 "not valid UTF-8"},
        BodyCase{"invalid_utf8_truncated", "abc\xe2\x82", "text/plain; charset=utf-8", FetchError::Encoding,
                 "not valid UTF-8"},
        BodyCase{"invalid_utf8_above_unicode", "\xf4\x90\x80\x80", "text/plain; charset=utf-8", FetchError::Encoding,
                 "not valid UTF-8"},
        BodyCase{"body_over_64_kib", std::string(kMaxPolicyBytes + 1, 'a'), "text/plain", FetchError::Oversize,
                 "64 KiB"}),
    [](const auto& info) { return info.param.name; });

TEST(MediaType, ParsesTypeAndCharset) {
  auto media = parse_media_type(" text/plain ; format=flowed; CHARSET = \"UTF-8\" ");
  EXPECT_EQ(media.type, "text/plain");
  EXPECT_EQ(media.charset, "utf-8");
  EXPECT_EQ(parse_media_type("text/plain").charset, "");
}

struct CertificateCase {
  std::string name;
  int x509_error;
  int depth;
  std::chrono::hours not_after_from_now;
  FetchError expected;
  std::string words;
};

class ClassifyCertificate : public ::testing::TestWithParam<CertificateCase> {};

TEST_P(ClassifyCertificate, SaysWhatIsWrongWithTheCertificate) {
  const auto& c = GetParam();
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  CertificateProblem problem;
  problem.x509_error = c.x509_error;
  problem.depth = c.depth;
  problem.subject = "CN=Test Intermediate";
  problem.issuer = "CN=Unknown Test CA";
  problem.names = "www.other.test, other.test";
  problem.not_before = now + 3h;
  problem.not_after = now + c.not_after_from_now;
  auto result = classify_certificate(problem, "mta-sts.example.com", now);
  EXPECT_EQ(result.error, c.expected);
  EXPECT_NE(result.message.find(c.words), std::string::npos) << result.message;
}

INSTANTIATE_TEST_SUITE_P(
    Certificates, ClassifyCertificate,
    ::testing::Values(
        CertificateCase{"expired_two_days_ago", X509_V_ERR_CERT_HAS_EXPIRED, 0, -49h, FetchError::CertExpired,
                        "certificate for mta-sts.example.com expired 2 days ago (on 2027-01-13"},
        CertificateCase{"expired_minutes_ago", X509_V_ERR_CERT_HAS_EXPIRED, 0, -1h, FetchError::CertExpired,
                        "expired 1 hour ago"},
        CertificateCase{"intermediate_expired", X509_V_ERR_CERT_HAS_EXPIRED, 1, -72h, FetchError::CertExpired,
                        "CA certificate CN=Test Intermediate in the chain for mta-sts.example.com expired 3 days ago"},
        CertificateCase{"not_yet_valid", X509_V_ERR_CERT_NOT_YET_VALID, 0, 100h, FetchError::CertNotYetValid,
                        "is not valid yet (valid from 2027-01-15 11:00 UTC, in 3 hours)"},
        CertificateCase{"wrong_name", X509_V_ERR_HOSTNAME_MISMATCH, 0, 100h, FetchError::CertWrongName,
                        "certificate is not valid for mta-sts.example.com (it is for www.other.test, other.test)"},
        CertificateCase{"self_signed", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0, 100h, FetchError::CertUntrusted,
                        "is not signed by a trusted CA (issuer: CN=Unknown Test CA)"},
        CertificateCase{"unknown_issuer", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0, 100h,
                        FetchError::CertUntrusted, "not signed by a trusted CA"},
        CertificateCase{"other_failure", X509_V_ERR_CERT_SIGNATURE_FAILURE, 0, 100h, FetchError::CertInvalid,
                        "failed verification: certificate signature failure"}),
    [](const auto& info) { return info.param.name; });

TEST(DescribeDuration, UsesTheLargestWholeUnit) {
  EXPECT_EQ(describe_duration(std::chrono::seconds(1)), "1 second");
  EXPECT_EQ(describe_duration(std::chrono::seconds(119)), "119 seconds");
  EXPECT_EQ(describe_duration(std::chrono::seconds(600)), "10 minutes");
  EXPECT_EQ(describe_duration(std::chrono::seconds(60)), "1 minute");
  EXPECT_EQ(describe_duration(std::chrono::seconds(90)), "90 seconds");
  EXPECT_EQ(describe_duration(std::chrono::hours(3)), "3 hours");
  EXPECT_EQ(describe_duration(std::chrono::hours(24)), "1 day");
  EXPECT_EQ(describe_duration(std::chrono::hours(25)), "25 hours");
  EXPECT_EQ(describe_duration(std::chrono::hours(49)), "2 days");
  EXPECT_EQ(describe_duration(-std::chrono::hours(49)), "2 days");
}

struct NotModifiedCase {
  std::string name;
  std::string sent, received;
  bool not_modified;
  std::string words;  // for a failure
};

class ClassifyNotModified : public ::testing::TestWithParam<NotModifiedCase> {};

TEST_P(ClassifyNotModified, MatchesTheTagSentWeakly) {
  const auto& c = GetParam();
  auto result = classify_not_modified(c.sent, c.received);
  EXPECT_EQ(result.http_status, 304u);
  EXPECT_TRUE(result.body.empty());
  if (c.not_modified) {
    EXPECT_TRUE(result.ok()) << result.message;
    EXPECT_TRUE(result.not_modified);
    EXPECT_EQ(result.etag, c.received);
  } else {
    EXPECT_EQ(result.error, FetchError::HttpStatus);
    EXPECT_FALSE(result.not_modified);
    EXPECT_TRUE(result.etag.empty());
    EXPECT_NE(result.message.find(c.words), std::string::npos) << result.message;
  }
}

// RFC 9110 §8.8.3.2: weak comparison ignores W/ on either side, never the opaque tag.
INSTANTIATE_TEST_SUITE_P(
    Answers, ClassifyNotModified,
    ::testing::Values(NotModifiedCase{"same_strong_tag", "\"v1\"", "\"v1\"", true, ""},
                      NotModifiedCase{"weak_answer_to_strong_tag", "\"v1\"", "W/\"v1\"", true, ""},
                      NotModifiedCase{"strong_answer_to_weak_tag", "W/\"v1\"", "\"v1\"", true, ""},
                      NotModifiedCase{"both_weak", "W/\"v1\"", "W/\"v1\"", true, ""},
                      NotModifiedCase{"another_tag", "\"v1\"", "\"v2\"", false,
                                      "HTTP 304 Not Modified for ETag \"v2\", another version than the one asked about "
                                      "(If-None-Match was \"v1\")"},
                      NotModifiedCase{"tags_differ_in_case", "\"abc\"", "\"ABC\"", false, "another version"},
                      NotModifiedCase{"no_etag", "\"v1\"", "", false, "HTTP 304 Not Modified without an ETag"},
                      NotModifiedCase{"unquoted_etag", "\"v1\"", "v1", false, "malformed ETag v1"},
                      NotModifiedCase{"lowercase_weak_prefix", "\"v1\"", "w/\"v1\"", false, "malformed ETag"}),
    [](const auto& info) { return info.param.name; });

TEST(EntityTag, FollowsTheGrammarOfRfc9110) {
  for (std::string_view good : {"\"\"", "\"v1\"", "W/\"v1\"", "\"5f8e-3a\"", "\"caf\xc3\xa9\""})
    EXPECT_TRUE(is_entity_tag(good)) << good;
  for (std::string_view bad :
       {"", "v1", "\"v1", "v1\"", "\"", "W/v1", "w/\"v1\"", "\"a b\"", "\"a\"b\"", "\"v1\" ", "*", "\"a\x7f\""})
    EXPECT_FALSE(is_entity_tag(bad)) << bad;
  EXPECT_TRUE(weakly_equal("W/\"x\"", "\"x\""));
  EXPECT_FALSE(weakly_equal("\"x\"", "\"y\""));
  EXPECT_FALSE(weakly_equal("x", "x"));  // not entity-tags
}

TEST(KeepAliveHeader, ReadsTheTimeoutParameter) {
  using std::chrono::seconds;
  EXPECT_EQ(keep_alive_timeout("timeout=5, max=100"), seconds(5));
  EXPECT_EQ(keep_alive_timeout("max=100, Timeout = 30"), seconds(30));
  EXPECT_EQ(keep_alive_timeout("timeout=0"), seconds(0));
  EXPECT_EQ(keep_alive_timeout("max=100"), std::nullopt);
  EXPECT_EQ(keep_alive_timeout(""), std::nullopt);
  EXPECT_EQ(keep_alive_timeout("timeout=soon"), std::nullopt);
  EXPECT_EQ(keep_alive_timeout("timeout=-1"), std::nullopt);
  EXPECT_EQ(keep_alive_timeout("timeout=5s"), std::nullopt);
}

// --- the set of idle connections ---

using Pool = IdlePool<std::string>;
const auto kT0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));

std::unique_ptr<std::string> connection(std::string name) { return std::make_unique<std::string>(std::move(name)); }

TEST(IdlePool, GivesAParkedConnectionBackOnceUntilItExpires) {
  Pool pool(4);
  pool.park("a", connection("a1"), kT0 + 90s, kT0);
  EXPECT_EQ(pool.take("b", kT0), nullptr);
  auto taken = pool.take("a", kT0 + 89s);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, "a1");
  EXPECT_EQ(pool.take("a", kT0 + 89s), nullptr);  // taken means gone
  pool.park("a", std::move(taken), kT0 + 100s, kT0 + 89s);
  EXPECT_EQ(pool.take("a", kT0 + 100s), nullptr);  // expired
  EXPECT_EQ(pool.size(), 0u);
}

TEST(IdlePool, KeepsOnePerKeyTheNewest) {
  Pool pool(4);
  pool.park("a", connection("a1"), kT0 + 90s, kT0);
  pool.park("a", connection("a2"), kT0 + 90s, kT0);
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(*pool.take("a", kT0), "a2");
}

TEST(IdlePool, StaysWithinItsCapacityLeastRecentlyParkedLeavingFirst) {
  Pool pool(2);
  pool.park("a", connection("a"), kT0 + 90s, kT0);
  pool.park("b", connection("b"), kT0 + 90s, kT0);
  pool.park("a", pool.take("a", kT0), kT0 + 90s, kT0);  // a used again: b is now the oldest
  pool.park("c", connection("c"), kT0 + 90s, kT0);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.take("b", kT0), nullptr);
  EXPECT_NE(pool.take("a", kT0), nullptr);
  EXPECT_NE(pool.take("c", kT0), nullptr);
}

TEST(IdlePool, ExpiredOnesLeaveBeforeLiveOnes) {
  Pool pool(2);
  pool.park("short", connection("s"), kT0 + 5s, kT0);
  pool.park("long", connection("l"), kT0 + 90s, kT0);
  pool.park("new", connection("n"), kT0 + 90s, kT0 + 10s);  // "short" expired: "long" stays
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_NE(pool.take("long", kT0 + 10s), nullptr);
}

TEST(IdlePool, CapacityZeroKeepsNothing) {
  Pool pool(0);
  pool.park("a", connection("a"), kT0 + 90s, kT0);
  EXPECT_EQ(pool.size(), 0u);
  pool.set_capacity(1);
  pool.park("a", connection("a"), kT0 + 90s, kT0);
  pool.park("b", connection("b"), kT0 + 90s, kT0);
  EXPECT_EQ(pool.size(), 1u);
  pool.clear();
  EXPECT_EQ(pool.size(), 0u);
}

// --- network bounds, on loopback ---

FetchResult fetch_now(PolicyFetcher& fetcher, FetchRequest request) {
  boost::asio::io_context io;
  auto future = boost::asio::co_spawn(io, fetcher.fetch(std::move(request)), boost::asio::use_future);
  io.run();
  return future.get();
}

TEST(FetchOnLoopback, ClosedPortIsAConnectionFailure) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = probe.local_endpoint().port();
  probe.close();  // nothing listens there now
  PolicyFetcher fetcher(std::nullopt);
  auto result = fetch_now(fetcher, {"example.com", Vantage{boost::asio::ip::make_address("127.0.0.1"), port}, 2000ms});
  EXPECT_EQ(result.error, FetchError::Connect) << result.message;
  EXPECT_NE(result.message.find("cannot connect"), std::string::npos) << result.message;
}

TEST(FetchOnLoopback, SilentServerTimesOutWithinTheTimeout) {
  boost::asio::io_context server_io;
  boost::asio::ip::tcp::acceptor acceptor(server_io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  boost::asio::ip::tcp::socket accepted(server_io);
  std::thread server([&] {
    boost::system::error_code ec;
    acceptor.accept(accepted, ec);  // accept, then say nothing
  });
  PolicyFetcher fetcher(std::nullopt);
  const auto started = std::chrono::steady_clock::now();
  auto result = fetch_now(fetcher, {"example.com", Vantage{boost::asio::ip::make_address("127.0.0.1"), port}, 1000ms});
  const auto took = std::chrono::steady_clock::now() - started;
  server.join();
  EXPECT_EQ(result.error, FetchError::Timeout) << result.message;
  EXPECT_NE(result.message.find("no complete answer within 1 s (timed out during the TLS handshake)"),
            std::string::npos)
      << result.message;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3000ms);
}

TEST(Fetcher, RefusesAnUnreadableCaBundle) {
  EXPECT_THROW(PolicyFetcher(std::filesystem::path("/nonexistent/ca.pem")), std::runtime_error);
}

}  // namespace
}  // namespace stsd::confirm
