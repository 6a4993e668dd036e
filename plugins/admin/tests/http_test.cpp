// The admin API's HTTP transport: the TCP listener's bearer token, JSON errors for what a
// client may not send, and moving the socket on reload, driven by stsctl's client. The
// socket files, limits and timeouts themselves are the HTTP layer's (tests/http).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "client.h"
#include "http_server.h"

namespace stsd::admin {
namespace {

using nlohmann::json;
namespace asio = boost::asio;

ApiResponse echo(const ApiRequest& request) {
  return {200, json{{"method", request.method}, {"target", request.target}, {"body", request.body}}};
}

class Http : public testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    // Short: unix socket paths are limited to 107 bytes.
    dir_ = std::filesystem::path("/tmp") / ("stsd-ah-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  AdminConfig socket_config(const std::string& name = "admin.sock") {
    AdminConfig config;
    config.enabled = true;
    config.socket = dir_ / name;
    return config;
  }
  // The socket and a TCP listener on a free port with a bearer token.
  AdminConfig tcp_config() {
    auto config = socket_config();
    config.listen = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
    config.listen_text = "127.0.0.1:0";
    config.token = "0123456789abcdef0123";
    return config;
  }
  static stsd::admin::HttpResult get_over_tcp(uint16_t port, const std::string& token) {
    stsd::admin::Endpoint endpoint;
    endpoint.host = "127.0.0.1";
    endpoint.port = port;
    endpoint.token = token;
    endpoint.description = "tcp";
    return stsd::admin::AdminClient(endpoint, std::chrono::seconds(10)).request("GET", "/v1/server");
  }
  stsd::admin::HttpResult get(const std::filesystem::path& socket, const std::string& target) {
    stsd::admin::Endpoint endpoint;
    endpoint.socket = socket.native();
    endpoint.description = socket.native();
    stsd::admin::AdminClient client(endpoint, std::chrono::seconds(10));
    return client.request("GET", target);
  }
  // Sends raw bytes and reads until the server closes the connection. A server that
  // answers and closes before the bytes are all sent (a refusal at accept) makes the
  // write fail; its answer is still there to read.
  static std::string raw_exchange(const std::filesystem::path& socket, const std::string& bytes) {
    asio::io_context io;
    asio::local::stream_protocol::socket s(io);
    s.connect(asio::local::stream_protocol::endpoint(socket.native()));
    boost::system::error_code error;
    asio::write(s, asio::buffer(bytes), error);
    std::string answer;
    char chunk[4096];
    for (int i = 0; i < 1000; ++i) {
      size_t n = s.read_some(asio::buffer(chunk), error);
      answer.append(chunk, n);
      if (error) break;
    }
    return answer;
  }

  std::filesystem::path dir_;
};

TEST_F(Http, TcpListenerRequiresTheBearerToken) {
  auto config = tcp_config();
  AdminHttpServer server(echo);
  server.start(config);
  ASSERT_NE(server.tcp_port(), 0);
  auto request = [&](const std::string& token) { return get_over_tcp(server.tcp_port(), token); };
  auto missing = request("");
  EXPECT_EQ(missing.status, 401u);
  EXPECT_NE(missing.body["error"].get<std::string>().find("bearer token"), std::string::npos);
  EXPECT_EQ(request("0123456789abcdef0124").status, 401u);
  EXPECT_EQ(request("0123456789abcdef012").status, 401u);
  EXPECT_EQ(request("0123456789abcdef0123").status, 200u);
  // The unix socket needs no token.
  EXPECT_EQ(get(config.socket, "/").status, 200u);
}

// Issue 12 case 3: connections without the token (here 70 that send nothing) take
// neither the unix socket's slots nor those of the clients that have the token.
TEST_F(Http, IdleTcpConnectionsLockOutNeitherTheSocketNorTokenHolders) {
  auto config = tcp_config();
  AdminHttpServer server(echo);
  server.start(config);
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> idle;
  for (int i = 0; i < 70; ++i) {
    idle.emplace_back(io);
    idle.back().connect({asio::ip::make_address("127.0.0.1"), server.tcp_port()});
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // every one accepted
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(get(config.socket, "/").status, 200u);
    EXPECT_EQ(get_over_tcp(server.tcp_port(), config.token).status, 200u);
  }
}

// Issue 12 case 15: past the cap a client gets the API's JSON 503, not a reset.
TEST_F(Http, AConnectionBeyondTheCapGetsA503) {
  auto config = socket_config();
  HttpLimits limits;
  limits.max_connections = 2;
  AdminHttpServer server(echo, limits);
  server.start(config);
  asio::io_context io;
  std::vector<asio::local::stream_protocol::socket> held;
  for (int i = 0; i < 2; ++i) {
    held.emplace_back(io);
    held.back().connect(asio::local::stream_protocol::endpoint(config.socket.native()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto answer = raw_exchange(config.socket, "GET /v1/server HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
  EXPECT_NE(answer.find("Retry-After: 1"), std::string::npos) << answer;
  EXPECT_NE(answer.find("{\"error\":\"too many admin connections; retry later\"}"), std::string::npos) << answer;
  held.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(get(config.socket, "/").status, 200u);
}

TEST_F(Http, KeepsTheConnectionAliveAcrossRequests) {
  auto config = socket_config();
  int calls = 0;
  AdminHttpServer server([&](const ApiRequest& r) {
    ++calls;
    return echo(r);
  });
  server.start(config);
  stsd::admin::Endpoint endpoint;
  endpoint.socket = config.socket.native();
  stsd::admin::AdminClient client(endpoint, std::chrono::seconds(10));
  for (int i = 0; i < 20; ++i) {
    auto result = client.request("POST", "/n/" + std::to_string(i), json{{"i", i}});
    ASSERT_EQ(result.status, 200u);
    EXPECT_EQ(result.body["body"], (json{{"i", i}}.dump()));
  }
  EXPECT_EQ(calls, 20);
}

struct RawCase {
  const char* name;
  std::string request;
  std::string status_line;
  std::string body_part;
};

void PrintTo(const RawCase& c, std::ostream* os) { *os << c.name; }

class RawRequests : public Http, public testing::WithParamInterface<RawCase> {};

TEST_P(RawRequests, GetAJsonErrorAndTheServerKeepsServing) {
  auto config = socket_config();
  HttpLimits limits;
  limits.max_body_bytes = 1024;
  limits.max_header_bytes = 2048;
  bool handler_called = false;
  AdminHttpServer server(
      [&](const ApiRequest& r) {
        handler_called = true;
        return echo(r);
      },
      limits);
  server.start(config);
  const auto& c = GetParam();
  std::string answer = raw_exchange(config.socket, c.request);
  EXPECT_EQ(answer.rfind(c.status_line, 0), 0u) << answer;
  EXPECT_NE(answer.find(c.body_part), std::string::npos) << answer;
  EXPECT_FALSE(handler_called);
  EXPECT_EQ(get(config.socket, "/after").status, 200u);
}

INSTANTIATE_TEST_SUITE_P(
    Limits, RawRequests,
    testing::Values(
        RawCase{
            "body_too_large",
            "POST /v1/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n" +
                std::string(5000, ' '),
            "HTTP/1.1 413", "send smaller batches"},
        RawCase{"headers_too_large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n",
                "HTTP/1.1 431", "request headers larger than"},
        RawCase{"wrong_content_type",
                "POST /v1/domains HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                "Content-Length: 2\r\n\r\n{}",
                "HTTP/1.1 415", "application/json"},
        RawCase{"not_http", "HELLO THERE\r\n\r\n", "HTTP/1.1 400", "malformed HTTP request"},
        RawCase{"bad_content_length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n", "HTTP/1.1 400",
                "malformed HTTP request"}),
    [](const testing::TestParamInfo<RawCase>& info) { return info.param.name; });

TEST_F(Http, ExpectContinueIsAnswered) {
  auto config = socket_config();
  AdminHttpServer server(echo);
  server.start(config);
  std::string answer = raw_exchange(config.socket,
                                    "POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(answer.rfind("HTTP/1.1 100 Continue", 0), 0u) << answer;
  EXPECT_NE(answer.find("HTTP/1.1 200 OK"), std::string::npos) << answer;
}

TEST_F(Http, AReloadMovesTheSocketAndAFailedOneKeepsTheOld) {
  auto config = socket_config("a.sock");
  AdminHttpServer server(echo);
  server.start(config);
  auto moved = socket_config("b.sock");
  server.commit(moved, server.prepare(moved));
  EXPECT_FALSE(std::filesystem::exists(config.socket));
  EXPECT_EQ(get(moved.socket, "/").status, 200u);

  auto blocked = socket_config("c.sock");
  std::ofstream(blocked.socket) << "not a socket";
  EXPECT_THROW(server.prepare(blocked), http::BindError);
  EXPECT_EQ(get(moved.socket, "/").status, 200u);
}

TEST_F(Http, AReloadChangesTheTokenWithoutRebinding) {
  auto config = tcp_config();
  AdminHttpServer server(echo);
  server.start(config);
  const auto port = server.tcp_port();
  auto rotated = config;
  rotated.token = "fedcba9876543210fedc";
  server.commit(rotated, server.prepare(rotated));
  EXPECT_EQ(server.tcp_port(), port);
  EXPECT_EQ(get_over_tcp(port, rotated.token).status, 200u);
  EXPECT_EQ(get_over_tcp(port, config.token).status, 401u);
}

}  // namespace
}  // namespace stsd::admin
