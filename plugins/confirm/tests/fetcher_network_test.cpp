// The fetcher against a real TLS server on loopback: conditional requests (ETag,
// If-None-Match, 304) and keep-alive (reuse per vantage and host, a server that closed
// the kept connection, the bound on idle connections), counted on the server's side.
#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <gtest/gtest.h>

#include "fetcher.h"
#include "temp_dir.h"
#include "test_pki.h"

namespace stsd::confirm {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

const std::string kVersion1 = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmax_age: 604800\r\n";
const std::string kVersion2 = "version: STSv1\r\nmode: enforce\r\nmx: mx2.example.test\r\nmax_age: 604800\r\n";

// What the server saw of one request.
struct SeenRequest {
  size_t connection = 0;  // 1 for the first connection accepted, ...
  std::string host, if_none_match, connection_header;
};

struct Reply {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // Connection: close
};

// A policy host whose answers a test writes: TLS with the test CA's certificate for
// every mta-sts.<name>.test, HTTP/1.1 keep-alive, on its own thread.
class ScriptedHost {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;

  ScriptedHost(test::TestPki& pki, Handler handler)
      : tls_(asio::ssl::context::tls_server), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    auto issued = pki.issue({"mta-sts.a.test", "mta-sts.b.test", "mta-sts.c.test"});
    tls_.use_certificate_chain(asio::buffer(issued.chain_pem));
    tls_.use_private_key(asio::buffer(issued.key_pem), asio::ssl::context::pem);
    set_handler(std::move(handler));
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ScriptedHost() {
    asio::post(io_, [this] {
      acceptor_.close();
      close_open_connections();
    });
    thread_.join();
  }

  Vantage vantage() const { return Vantage{asio::ip::make_address("127.0.0.1"), acceptor_.local_endpoint().port()}; }
  size_t accepted() const { return accepted_; }
  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  void set_handler(Handler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }
  // As a server whose keep-alive timeout passed: every open connection is closed.
  void close_idle_connections() {
    std::promise<void> done;
    asio::post(io_, [&] {
      close_open_connections();
      done.set_value();
    });
    done.get_future().wait();
  }
  // As a server that gives up on a connection just as the next request arrives: the
  // request after the first on each connection is not answered, the connection closed.
  void drop_second_requests() { drop_second_requests_ = true; }

 private:
  using Stream = beast::ssl_stream<beast::tcp_stream>;

  asio::awaitable<void> accept() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(io_, serve(std::make_shared<Stream>(std::move(socket), tls_), ++accepted_), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<Stream> stream, size_t number) {
    open_.insert(stream);
    boost::system::error_code ec;
    co_await stream->async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    beast::flat_buffer buffer;
    for (size_t answered = 0; !ec; ++answered) {
      bhttp::request<bhttp::string_body> request;
      co_await bhttp::async_read(*stream, buffer, request, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || (drop_second_requests_ && answered >= 1)) break;
      SeenRequest seen{number, std::string(request[bhttp::field::host]),
                       std::string(request[bhttp::field::if_none_match]),
                       std::string(request[bhttp::field::connection])};
      Reply reply;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(seen);
        reply = handler_(seen);
      }
      bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(reply.status), 11};
      for (const auto& [name, value] : reply.headers) response.set(name, value);
      response.body() = reply.body;
      response.keep_alive(!reply.close && request.keep_alive());
      response.prepare_payload();
      co_await bhttp::async_write(*stream, response, asio::redirect_error(asio::use_awaitable, ec));
      if (!response.keep_alive()) break;
    }
    close(*stream);
    open_.erase(stream);
  }

  static void close(Stream& stream) {
    boost::system::error_code ignored;
    auto& socket = beast::get_lowest_layer(stream).socket();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }
  void close_open_connections() {
    for (const auto& stream : open_) close(*stream);
  }

  asio::io_context io_;
  asio::ssl::context tls_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<size_t> accepted_{0};
  std::atomic<bool> drop_second_requests_{false};
  std::set<std::shared_ptr<Stream>> open_;  // server thread only
  mutable std::mutex mutex_;
  Handler handler_;
  std::vector<SeenRequest> requests_;
};

// Serves `body` with `etag`, and 304 to an If-None-Match naming it (as stsd's own policy
// host does).
ScriptedHost::Handler serving(std::string body, std::string etag) {
  return [body, etag](const SeenRequest& seen) {
    Reply reply;
    reply.headers = {{"ETag", etag}, {"Content-Type", "text/plain"}};
    auto opaque = [](std::string tag) { return tag.starts_with("W/") ? tag.substr(2) : tag; };
    if (!seen.if_none_match.empty() && opaque(seen.if_none_match) == opaque(etag))
      reply.status = 304;
    else
      reply.body = body;
    return reply;
  };
}

// Answers 304 with `etag` (or no ETag when empty) whatever is asked: a broken cache.
ScriptedHost::Handler always_not_modified(std::string etag) {
  return [etag](const SeenRequest&) {
    Reply reply;
    reply.status = 304;
    if (!etag.empty()) reply.headers = {{"ETag", etag}};
    return reply;
  };
}

// The fetcher's side: one event loop for every fetch of a test, as the confirmer has.
class FetchOnOneLoop : public ::testing::Test {
 protected:
  FetchOnOneLoop() { test::write_file(folder_.path() / "ca.pem", pki_.ca_pem()); }

  std::unique_ptr<PolicyFetcher> fetcher(ConnectionReuse reuse = {}) {
    return std::make_unique<PolicyFetcher>(folder_.path() / "ca.pem", reuse);
  }
  FetchResult fetch(PolicyFetcher& fetcher, const ScriptedHost& host, std::string domain,
                    std::string if_none_match = "") {
    FetchRequest request{std::move(domain), host.vantage(), 3000ms, std::move(if_none_match)};
    auto future = asio::co_spawn(io_, fetcher.fetch(std::move(request)), asio::use_future);
    io_.restart();
    io_.run();
    return future.get();
  }

  test::TestPki pki_;
  test::TempDir folder_;
  asio::io_context io_;  // the fetchers' idle connections close with it
};

struct ConditionalCase {
  std::string name;
  ScriptedHost::Handler server;
  std::string if_none_match;
  FetchError expected;
  bool not_modified;
  std::string etag;   // expected in the result
  std::string body;   // expected in the result
  std::string words;  // a fragment of the failure's message
};

class ConditionalFetch : public FetchOnOneLoop, public ::testing::WithParamInterface<ConditionalCase> {};

TEST_P(ConditionalFetch, AnswersWhatTheHostSaysOfTheTagSent) {
  const auto& c = GetParam();
  ScriptedHost host(pki_, c.server);
  auto result = fetch(*fetcher(), host, "a.test", c.if_none_match);
  EXPECT_EQ(result.error, c.expected) << result.message;
  EXPECT_EQ(result.not_modified, c.not_modified);
  EXPECT_EQ(result.etag, c.etag);
  EXPECT_EQ(result.body, c.body);
  if (!c.words.empty()) {
    EXPECT_NE(result.message.find(c.words), std::string::npos) << result.message;
  }
  ASSERT_EQ(host.requests().size(), 1u);
  EXPECT_EQ(host.requests()[0].if_none_match, c.if_none_match);
}

INSTANTIATE_TEST_SUITE_P(
    Answers, ConditionalFetch,
    ::testing::Values(ConditionalCase{"plain_get_returns_the_etag", serving(kVersion1, "\"v1\""), "", FetchError::None,
                                      false, "\"v1\"", kVersion1, ""},
                      ConditionalCase{"matching_tag_is_not_modified", serving(kVersion1, "\"v1\""), "\"v1\"",
                                      FetchError::None, true, "\"v1\"", "", ""},
                      ConditionalCase{"weak_tag_of_the_host_matches", serving(kVersion1, "W/\"v1\""), "\"v1\"",
                                      FetchError::None, true, "W/\"v1\"", "", ""},
                      ConditionalCase{"changed_content_is_a_200_with_the_new_tag", serving(kVersion2, "\"v2\""),
                                      "\"v1\"", FetchError::None, false, "\"v2\"", kVersion2, ""},
                      ConditionalCase{"malformed_etag_is_not_returned", serving(kVersion1, "v1"), "", FetchError::None,
                                      false, "", kVersion1, ""},
                      ConditionalCase{"not_modified_without_our_if_none_match", always_not_modified("\"v1\""), "",
                                      FetchError::HttpStatus, false, "", "",
                                      "HTTP 304 Not Modified to a request without If-None-Match"},
                      ConditionalCase{"not_modified_for_another_tag", always_not_modified("\"v2\""), "\"v1\"",
                                      FetchError::HttpStatus, false, "", "",
                                      "for ETag \"v2\", another version than the one asked"},
                      ConditionalCase{"not_modified_without_a_tag", always_not_modified(""), "\"v1\"",
                                      FetchError::HttpStatus, false, "", "", "without an ETag"}),
    [](const auto& info) { return info.param.name; });

TEST_F(FetchOnOneLoop, RefusesAnIfNoneMatchThatIsNotAnEntityTag) {
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  EXPECT_THROW(fetch(*fetcher(), host, "a.test", "v1"), std::invalid_argument);
  EXPECT_EQ(host.accepted(), 0u);
}

TEST_F(FetchOnOneLoop, RoundsOfOneVantageAndHostShareOneConnection) {
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  auto policy_fetcher = fetcher();
  auto first = fetch(*policy_fetcher, host, "a.test");
  auto second = fetch(*policy_fetcher, host, "a.test", first.etag);
  auto third = fetch(*policy_fetcher, host, "a.test");
  ASSERT_TRUE(first.ok() && second.ok() && third.ok()) << first.message << second.message << third.message;
  EXPECT_FALSE(first.reused_connection);
  EXPECT_TRUE(second.reused_connection);
  EXPECT_TRUE(second.not_modified);
  EXPECT_TRUE(third.reused_connection);
  EXPECT_EQ(third.body, kVersion1);
  EXPECT_EQ(host.accepted(), 1u);
  EXPECT_EQ(third.certificate_not_after, first.certificate_not_after);             // what the handshake verified
  for (const auto& seen : host.requests()) EXPECT_EQ(seen.connection_header, "");  // HTTP/1.1 keep-alive
}

TEST_F(FetchOnOneLoop, NeverReusesAConnectionForAnotherHost) {
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  auto policy_fetcher = fetcher();
  for (auto domain : {"a.test", "b.test", "a.test", "b.test"}) EXPECT_TRUE(fetch(*policy_fetcher, host, domain).ok());
  EXPECT_EQ(host.accepted(), 2u);
  std::map<size_t, std::set<std::string>> hosts_per_connection;
  for (const auto& seen : host.requests()) hosts_per_connection[seen.connection].insert(seen.host);
  for (const auto& [connection, hosts] : hosts_per_connection) EXPECT_EQ(hosts.size(), 1u) << connection;
}

TEST_F(FetchOnOneLoop, NeverReusesAConnectionOfAnotherFetcher) {
  // Another fetcher may trust other CAs (a reload changed ca_file): it verifies its own.
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  auto before_reload = fetcher();
  auto after_reload = fetcher();
  EXPECT_TRUE(fetch(*before_reload, host, "a.test").ok());
  EXPECT_FALSE(fetch(*after_reload, host, "a.test").reused_connection);
  EXPECT_EQ(host.accepted(), 2u);
}

TEST_F(FetchOnOneLoop, AKeptConnectionTheServerClosedIsReplacedWithoutAFailure) {
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  auto policy_fetcher = fetcher();
  ASSERT_TRUE(fetch(*policy_fetcher, host, "a.test").ok());
  host.close_idle_connections();
  auto after_close = fetch(*policy_fetcher, host, "a.test");
  EXPECT_TRUE(after_close.ok()) << after_close.message;
  EXPECT_FALSE(after_close.reused_connection);
  EXPECT_EQ(host.accepted(), 2u);
}

TEST_F(FetchOnOneLoop, AKeptConnectionClosedAsTheRequestArrivesIsRetriedOnce) {
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  host.drop_second_requests();
  auto policy_fetcher = fetcher();
  ASSERT_TRUE(fetch(*policy_fetcher, host, "a.test").ok());
  auto retried = fetch(*policy_fetcher, host, "a.test", "\"v1\"");
  EXPECT_TRUE(retried.ok()) << retried.message;
  EXPECT_TRUE(retried.not_modified);
  EXPECT_FALSE(retried.reused_connection);
  EXPECT_EQ(host.accepted(), 2u);
  EXPECT_EQ(host.requests().size(), 2u);  // the dropped request was not answered
}

TEST_F(FetchOnOneLoop, KeepsNoConnectionAfterAFailureOrConnectionClose) {
  ScriptedHost host(pki_, [](const SeenRequest& seen) {
    Reply reply;
    reply.headers = {{"Content-Type", "text/plain"}};
    reply.body = kVersion1;
    if (seen.connection == 1) reply.status = 404;  // a failure: the connection is closed
    if (seen.connection == 2) reply.close = true;  // the server says it closes
    if (seen.connection == 3) reply.headers.emplace_back("Keep-Alive", "timeout=1");  // no time to reuse
    return reply;
  });
  auto policy_fetcher = fetcher();
  EXPECT_EQ(fetch(*policy_fetcher, host, "a.test").error, FetchError::HttpStatus);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(fetch(*policy_fetcher, host, "a.test").ok());
  EXPECT_EQ(host.accepted(), 4u);
  EXPECT_TRUE(fetch(*policy_fetcher, host, "a.test").reused_connection);  // connection 4 is kept
}

TEST_F(FetchOnOneLoop, KeepsConnectionsNoLongerThanTheIdleTime) {
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  auto policy_fetcher = fetcher(ConnectionReuse{256, std::chrono::seconds(1)});
  ASSERT_TRUE(fetch(*policy_fetcher, host, "a.test").ok());
  std::this_thread::sleep_for(1100ms);
  EXPECT_FALSE(fetch(*policy_fetcher, host, "a.test").reused_connection);
  EXPECT_EQ(host.accepted(), 2u);
}

TEST_F(FetchOnOneLoop, KeepsAtMostTheBoundOfIdleConnections) {
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  auto policy_fetcher = fetcher(ConnectionReuse{2, std::chrono::seconds(90)});
  for (auto domain : {"a.test", "b.test", "c.test"}) ASSERT_TRUE(fetch(*policy_fetcher, host, domain).ok());
  EXPECT_EQ(host.accepted(), 3u);
  EXPECT_TRUE(fetch(*policy_fetcher, host, "c.test").reused_connection);
  EXPECT_TRUE(fetch(*policy_fetcher, host, "b.test").reused_connection);
  EXPECT_FALSE(fetch(*policy_fetcher, host, "a.test").reused_connection);  // the least recently used left
  EXPECT_EQ(host.accepted(), 4u);
}

TEST_F(FetchOnOneLoop, WithoutReuseEveryFetchAsksToClose) {
  ScriptedHost host(pki_, serving(kVersion1, "\"v1\""));
  auto policy_fetcher = fetcher(ConnectionReuse{0, std::chrono::seconds(90)});
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(fetch(*policy_fetcher, host, "a.test").reused_connection);
  EXPECT_EQ(host.accepted(), 2u);
  for (const auto& seen : host.requests()) EXPECT_EQ(seen.connection_header, "close");
}

}  // namespace
}  // namespace stsd::confirm
