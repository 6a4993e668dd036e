// The policy host over real TLS on loopback: certificate selection by SNI, keep-alive,
// and the limits that keep slow or greedy clients from taking it over.
#include <gtest/gtest.h>

#include <openssl/x509v3.h>

#include <sys/socket.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "policyhost/server.h"
#include "temp_dir.h"
#include "test_pki.h"
#include "utc_time.h"

namespace stsd::policyhost {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using test::TempDir;
using test::TestPki;
using test::write_file;

const std::string kAlphaPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.alpha.test\r\nmax_age: 604800\r\n";
const std::string kBetaPolicy = "version: STSv1\r\nmode: testing\r\nmx: *.beta.test\r\nmax_age: 86400\r\n";

// A TLS client driven step by step, each step bounded in time.
class Client {
 public:
  explicit Client(const std::string& ca_pem, int max_version = 0, int min_version = 0)
      : context_(ssl::context::tls_client) {
    context_.add_certificate_authority(net::buffer(ca_pem));
    context_.set_verify_mode(ssl::verify_peer);
    if (max_version) {
      SSL_CTX_set_security_level(context_.native_handle(), 0);  // let the client offer old versions
      SSL_CTX_set_max_proto_version(context_.native_handle(), max_version);
    }
    if (min_version) SSL_CTX_set_min_proto_version(context_.native_handle(), min_version);
  }

  beast::error_code connect(const tcp::endpoint& endpoint, const std::string& server_name) {
    stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io_, context_);
    if (!server_name.empty()) {
      SSL_set_tlsext_host_name(stream_->native_handle(), server_name.c_str());
      stream_->set_verify_callback(ssl::host_name_verification(server_name));
    }
    lowest().expires_after(5s);
    auto ec = run([&](auto done) { lowest().async_connect(endpoint, done); });
    if (ec) return ec;
    return run([&](auto done) { stream_->async_handshake(ssl::stream_base::client, done); });
  }

  beast::error_code send(const std::string& bytes) {
    lowest().expires_after(5s);
    return run([&](auto done) { net::async_write(*stream_, net::buffer(bytes), done); });
  }

  std::string get(const std::string& host, const std::string& method = "GET",
                  const std::string& path = "/.well-known/mta-sts.txt") {
    return method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: test\r\n\r\n";
  }

  std::optional<http::response<http::string_body>> read_response(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    lowest().expires_after(5s);
    auto ec = run([&](auto done) { http::async_read(*stream_, buffer_, parser, done); });
    if (ec) return std::nullopt;
    return parser.release();
  }

  // True when the server ends the connection within `within` (false: still open).
  bool closed_by_server(std::chrono::milliseconds within) {
    lowest().expires_after(within);
    char byte;
    auto ec = run([&](auto done) { stream_->async_read_some(net::buffer(&byte, 1), done); });
    return ec && ec != beast::error::timeout;
  }

  // True when the server has closed the TCP connection (FIN or reset), without reading
  // or disturbing the TLS stream.
  bool tcp_closed() {
    char byte;
    const ssize_t n = ::recv(lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  std::vector<std::string> peer_names() {
    std::vector<std::string> names;
    X509* cert = SSL_get1_peer_certificate(stream_->native_handle());
    if (!cert) return names;
    auto* general = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; general && i < sk_GENERAL_NAME_num(general); ++i) {
      const GENERAL_NAME* entry = sk_GENERAL_NAME_value(general, i);
      if (entry->type == GEN_DNS)
        names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(entry->d.dNSName)),
                           static_cast<size_t>(ASN1_STRING_length(entry->d.dNSName)));
    }
    GENERAL_NAMES_free(general);
    X509_free(cert);
    return names;
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(*stream_); }

  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result;
    bool finished = false;
    start([&](beast::error_code ec, auto&&...) {
      result = ec;
      finished = true;
    });
    io_.restart();
    io_.run();
    if (!finished) result = net::error::timed_out;
    return result;
  }

  net::io_context io_;
  ssl::context context_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

class PolicyHostServerTest : public ::testing::Test {
 protected:
  PolicyHostServerTest() {
    write_cert("alpha.pem", {"mta-sts.alpha.test"});
    write_cert("beta.pem", {"mta-sts.beta.test"});
  }
  ~PolicyHostServerTest() override {
    if (server_) server_->stop();
  }

  void write_cert(const std::string& file, std::vector<std::string> names) {
    auto issued = pki_.issue(std::move(names));
    write_file(certs_.path() / file, issued.chain_pem + issued.key_pem);
  }

  PolicyHostSettings base_settings() {
    PolicyHostSettings settings;
    settings.listen = {"127.0.0.1:0"};
    settings.endpoints = {tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
    settings.cert_dir = certs_.path();
    settings.cert_poll = 3600s;  // tests refresh explicitly
    settings.limits = {.max_connections = 64, .max_connections_per_client = 64, .requests_per_second = 0, .burst = 1};
    return settings;
  }

  void start(PolicyHostSettings settings) {
    auto lookup = [this](std::string_view domain) -> std::optional<std::string> {
      std::lock_guard lock(mutex_);
      auto it = policies_.find(std::string(domain));
      if (it == policies_.end()) return std::nullopt;
      return it->second;
    };
    certificates_ = std::make_shared<CertificateStore>(settings.cert_dir);
    server_ = std::make_unique<PolicyHostServer>(std::move(settings), lookup, certificates_);
    server_->start();
    endpoint_ = server_->local_endpoints().at(0);
  }

  void start() { start(base_settings()); }

  TestPki pki_;
  TempDir certs_;
  std::mutex mutex_;
  std::map<std::string, std::string> policies_ = {{"alpha.test", kAlphaPolicy}, {"beta.test", kBetaPolicy}};
  std::shared_ptr<CertificateStore> certificates_;
  std::unique_ptr<PolicyHostServer> server_;
  tcp::endpoint endpoint_;
};

TEST_F(PolicyHostServerTest, SniSelectsEachDomainsCertificateAndPolicy) {
  start();
  for (const auto& [host, policy] :
       {std::pair{"mta-sts.alpha.test", kAlphaPolicy}, {"mta-sts.beta.test", kBetaPolicy}}) {
    Client client(pki_.ca_pem());
    ASSERT_FALSE(client.connect(endpoint_, host)) << host;  // verifies the certificate for `host`
    EXPECT_EQ(client.peer_names(), std::vector<std::string>{host});
    ASSERT_FALSE(client.send(client.get(host)));
    auto response = client.read_response();
    ASSERT_TRUE(response) << host;
    EXPECT_EQ(response->result_int(), 200u);
    EXPECT_EQ(response->body(), policy);
    EXPECT_EQ((*response)[http::field::content_type], "text/plain; charset=utf-8");
    EXPECT_EQ((*response)[http::field::cache_control], "max-age=60");
    EXPECT_FALSE((*response)[http::field::etag].empty());
    // RFC 9110 §5.6.7: an IMF-fixdate, and the server's clock is ours.
    const auto date = stsd::parse_http_date(std::string((*response)[http::field::date]));
    ASSERT_TRUE(date) << (*response)[http::field::date];
    EXPECT_LT(std::chrono::abs(*date - std::chrono::system_clock::now()), std::chrono::seconds(30));
  }
}

TEST_F(PolicyHostServerTest, HandshakeFailsWithoutCertificateOrServerName) {
  start();
  Client unknown(pki_.ca_pem());
  EXPECT_TRUE(unknown.connect(endpoint_, "mta-sts.unknown.test"));
  Client anonymous(pki_.ca_pem());
  EXPECT_TRUE(anonymous.connect(endpoint_, ""));
  Client good(pki_.ca_pem());  // the server is unharmed
  EXPECT_FALSE(good.connect(endpoint_, "mta-sts.alpha.test"));
}

TEST_F(PolicyHostServerTest, OnlyTls12AndTls13) {
  start();
  Client tls11(pki_.ca_pem(), TLS1_1_VERSION);
  EXPECT_TRUE(tls11.connect(endpoint_, "mta-sts.alpha.test"));
  Client tls12(pki_.ca_pem(), TLS1_2_VERSION, TLS1_2_VERSION);
  EXPECT_FALSE(tls12.connect(endpoint_, "mta-sts.alpha.test"));
  Client tls13(pki_.ca_pem(), TLS1_3_VERSION, TLS1_3_VERSION);
  EXPECT_FALSE(tls13.connect(endpoint_, "mta-sts.alpha.test"));
}

TEST_F(PolicyHostServerTest, KeepAliveServesSeveralRequestsAndHead) {
  start();
  Client client(pki_.ca_pem());
  ASSERT_FALSE(client.connect(endpoint_, "mta-sts.alpha.test"));
  ASSERT_FALSE(client.send(client.get("mta-sts.alpha.test", "HEAD")));
  auto head = client.read_response(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->result_int(), 200u);
  EXPECT_EQ((*head)[http::field::content_length], std::to_string(kAlphaPolicy.size()));
  EXPECT_TRUE(head->body().empty());
  ASSERT_FALSE(client.send(client.get("mta-sts.alpha.test", "GET", "/other")));
  auto missing = client.read_response();
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->result_int(), 404u);
  ASSERT_FALSE(client.send(client.get("mta-sts.alpha.test", "DELETE")));
  auto refused = client.read_response();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 405u);
  EXPECT_EQ((*refused)[http::field::allow], "GET, HEAD");
  ASSERT_FALSE(client.send(client.get("mta-sts.alpha.test")));
  auto policy = client.read_response();
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy->body(), kAlphaPolicy);
}

TEST_F(PolicyHostServerTest, ServesTheNewestContentOfTheStore) {
  start();
  {
    std::lock_guard lock(mutex_);
    policies_["alpha.test"] = kBetaPolicy;  // a new version staged
  }
  Client client(pki_.ca_pem());
  ASSERT_FALSE(client.connect(endpoint_, "mta-sts.alpha.test"));
  ASSERT_FALSE(client.send(client.get("mta-sts.alpha.test")));
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body(), kBetaPolicy);
}

TEST_F(PolicyHostServerTest, OversizedHeaderGets431AndClose) {
  auto settings = base_settings();
  settings.max_header_bytes = 2048;
  start(settings);
  Client client(pki_.ca_pem());
  ASSERT_FALSE(client.connect(endpoint_, "mta-sts.alpha.test"));
  std::string request =
      "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.alpha.test\r\nX-Big: " + std::string(4096, 'x') +
      "\r\n\r\n";
  client.send(request);  // the server may close before reading all of it
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result_int(), 431u);
  EXPECT_TRUE(client.closed_by_server(3000ms));
}

TEST_F(PolicyHostServerTest, SlowHeaderIsCutWhileOthersAreServed) {
  auto settings = base_settings();
  settings.request_timeout = 2s;
  start(settings);
  Client slow(pki_.ca_pem());
  ASSERT_FALSE(slow.connect(endpoint_, "mta-sts.alpha.test"));
  const auto began = std::chrono::steady_clock::now();
  ASSERT_FALSE(slow.send("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.alpha.test\r\n"));
  bool cut = false;
  for (int i = 0; i < 40 && !cut; ++i) {  // one header byte every 200 ms, never finishing
    cut = slow.send("X") || slow.tcp_closed();
    if (!cut) std::this_thread::sleep_for(200ms);
    if (i == 2) {  // meanwhile another client is served at once
      Client other(pki_.ca_pem());
      ASSERT_FALSE(other.connect(endpoint_, "mta-sts.beta.test"));
      ASSERT_FALSE(other.send(other.get("mta-sts.beta.test")));
      auto response = other.read_response();
      ASSERT_TRUE(response);
      EXPECT_EQ(response->result_int(), 200u);
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - began;
  EXPECT_TRUE(cut) << "the slow client was never disconnected";
  EXPECT_GE(elapsed, 1500ms);
  EXPECT_LT(elapsed, 5s);
}

TEST_F(PolicyHostServerTest, ARequestBeyondTheConnectionCapGets503) {
  auto settings = base_settings();
  settings.limits.max_connections = 2;
  start(settings);
  auto first = std::make_unique<Client>(pki_.ca_pem());
  Client second(pki_.ca_pem()), third(pki_.ca_pem());
  for (Client* client : {first.get(), &second}) {
    ASSERT_FALSE(client->connect(endpoint_, "mta-sts.alpha.test"));
    ASSERT_FALSE(client->send(client->get("mta-sts.alpha.test")));
    ASSERT_EQ(client->read_response()->result_int(), 200u);  // kept alive: both slots taken
  }
  ASSERT_FALSE(third.connect(endpoint_, "mta-sts.alpha.test"));
  ASSERT_FALSE(third.send(third.get("mta-sts.alpha.test")));
  auto busy = third.read_response();
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->result_int(), 503u);
  EXPECT_EQ((*busy)[http::field::retry_after], "1");
  EXPECT_TRUE(third.closed_by_server(3000ms));
  // A connection that ends frees its slot.
  first.reset();
  bool admitted = false;
  for (int i = 0; i < 50 && !admitted; ++i) {
    Client again(pki_.ca_pem());
    ASSERT_FALSE(again.connect(endpoint_, "mta-sts.alpha.test"));
    ASSERT_FALSE(again.send(again.get("mta-sts.alpha.test")));
    auto response = again.read_response();
    admitted = response && response->result_int() == 200u;
    if (!admitted) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(admitted);
}

// Connections that never start their TLS handshake, more than the pending pool holds
// and from many addresses (127.0.0.x), neither keep a real sender out nor outlive the
// handshake deadline.
TEST_F(PolicyHostServerTest, HandshakelessConnectionsNeitherLockOutSendersNorStay) {
  auto settings = base_settings();
  settings.limits.max_connections = 16;  // fewer than the silent connections
  settings.limits.max_pending = 16;
  settings.limits.max_pending_per_client = 2;
  settings.handshake_timeout = 1s;
  start(settings);
  net::io_context io;
  std::vector<tcp::socket> silent;
  for (unsigned i = 0; i < 60; ++i) {
    tcp::socket socket(io);
    socket.open(tcp::v4());
    socket.bind(tcp::endpoint(net::ip::make_address_v4(0x7f000002u + i / 3), 0));  // 3 from each of 20 addresses
    socket.connect(endpoint_);
    silent.push_back(std::move(socket));
  }
  for (int i = 0; i < 5; ++i) {
    Client sender(pki_.ca_pem());
    ASSERT_FALSE(sender.connect(endpoint_, "mta-sts.alpha.test")) << "fetch " << i;
    ASSERT_FALSE(sender.send(sender.get("mta-sts.alpha.test")));
    auto response = sender.read_response();
    ASSERT_TRUE(response) << "fetch " << i;
    EXPECT_EQ(response->result_int(), 200u);
  }
  // Every silent connection is closed: refused (3rd from an address), evicted by a newer
  // one, or cut at the handshake deadline.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  size_t open = silent.size();
  while (open > 0 && std::chrono::steady_clock::now() < deadline) {
    open = 0;
    for (auto& socket : silent) {
      char byte;
      const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++open;
    }
    if (open > 0) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(open, 0u);
}

TEST_F(PolicyHostServerTest, RequestRateAbovePerClientLimitGets429) {
  auto settings = base_settings();
  settings.limits.requests_per_second = 1;
  settings.limits.burst = 2;
  start(settings);
  Client client(pki_.ca_pem());
  ASSERT_FALSE(client.connect(endpoint_, "mta-sts.alpha.test"));
  std::vector<unsigned> statuses;
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(client.send(client.get("mta-sts.alpha.test")));
    auto response = client.read_response();
    ASSERT_TRUE(response);
    statuses.push_back(response->result_int());
  }
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200, 429}));
  EXPECT_TRUE(client.closed_by_server(3000ms));
}

TEST_F(PolicyHostServerTest, CertificateAddedLaterIsUsedWithoutRestart) {
  auto settings = base_settings();
  settings.cert_poll = 1s;
  start(settings);
  Client before(pki_.ca_pem());
  EXPECT_TRUE(before.connect(endpoint_, "mta-sts.gamma.test"));
  write_cert("gamma.pem", {"mta-sts.gamma.test"});
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {  // the poller picks it up within a second or two
    Client after(pki_.ca_pem());
    served = !after.connect(endpoint_, "mta-sts.gamma.test");
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served);
}

TEST_F(PolicyHostServerTest, IdleKeptAliveConnectionIsClosed) {
  auto settings = base_settings();
  settings.idle_timeout = 1s;
  start(settings);
  Client client(pki_.ca_pem());
  ASSERT_FALSE(client.connect(endpoint_, "mta-sts.alpha.test"));
  ASSERT_FALSE(client.send(client.get("mta-sts.alpha.test")));
  ASSERT_TRUE(client.read_response());
  const auto began = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.closed_by_server(4000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - began, 800ms);
}

TEST_F(PolicyHostServerTest, AReloadMovesTheListenerAndKeepsServing) {
  start();
  auto settings = base_settings();
  settings.listen = {"127.0.0.2:0"};
  settings.endpoints = {tcp::endpoint(net::ip::make_address("127.0.0.2"), 0)};
  settings.cache_max_age = 300s;
  server_->commit(settings, server_->prepare(settings));
  const auto moved = server_->local_endpoints();
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0].address().to_string(), "127.0.0.2");
  Client client(pki_.ca_pem());
  ASSERT_FALSE(client.connect(moved[0], "mta-sts.alpha.test"));
  ASSERT_FALSE(client.send(client.get("mta-sts.alpha.test")));
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ((*response)[http::field::cache_control], "max-age=300");
  bool old_closed = false;
  for (int i = 0; i < 50 && !old_closed; ++i) {  // the old address stops accepting
    Client old(pki_.ca_pem());
    old_closed = static_cast<bool>(old.connect(endpoint_, "mta-sts.alpha.test"));
    if (!old_closed) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(old_closed);
}

TEST_F(PolicyHostServerTest, StopDoesNotWaitForIdleConnections) {
  start();
  Client idle(pki_.ca_pem());
  ASSERT_FALSE(idle.connect(endpoint_, "mta-sts.alpha.test"));
  const auto began = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 3s);
}

TEST_F(PolicyHostServerTest, ListenAddressInUseIsAClearErrorAndAReloadToItChangesNothing) {
  start();
  auto settings = base_settings();
  settings.endpoints = {endpoint_};
  settings.listen = {"127.0.0.1:" + std::to_string(endpoint_.port())};
  PolicyHostServer second(settings, {}, std::make_shared<CertificateStore>(certs_.path()));
  try {
    second.start();
    ADD_FAILURE() << "bound an address in use";
  } catch (const stsd::http::BindError& error) {
    EXPECT_NE(std::string(error.what()).find("cannot listen on 127.0.0.1:" + std::to_string(endpoint_.port())),
              std::string::npos)
        << error.what();
  }
  // The first server's reload to an address another holds is refused in phase one.
  net::io_context io;
  tcp::acceptor holder(io, tcp::endpoint(net::ip::make_address("127.0.0.2"), 0));
  auto moved = base_settings();
  moved.endpoints = {holder.local_endpoint()};
  EXPECT_THROW(server_->prepare(moved), stsd::http::BindError);
  EXPECT_EQ(server_->local_endpoints(), std::vector<tcp::endpoint>{endpoint_});
}

}  // namespace
}  // namespace stsd::policyhost
