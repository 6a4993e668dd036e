// The admin API's HTTP transport: the unix socket's mode and life cycle, the TCP
// listener's bearer token, and limits on what a client may send.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "client.h"
#include "http_server.h"

namespace stsd::mtasts {
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
  stsctl::HttpResult get(const std::filesystem::path& socket, const std::string& target) {
    stsctl::Endpoint endpoint;
    endpoint.socket = socket.native();
    endpoint.description = socket.native();
    stsctl::AdminClient client(endpoint, std::chrono::seconds(10));
    return client.request("GET", target);
  }
  // Sends raw bytes and reads until the server closes the connection.
  static std::string raw_exchange(const std::filesystem::path& socket, const std::string& bytes) {
    asio::io_context io;
    asio::local::stream_protocol::socket s(io);
    s.connect(asio::local::stream_protocol::endpoint(socket.native()));
    asio::write(s, asio::buffer(bytes));
    std::string answer;
    boost::system::error_code error;
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

TEST_F(Http, UnixSocketHasModeOwnerOnlyAndIsRemovedAtStop) {
  auto config = socket_config();
  AdminHttpServer server(config, echo);
  server.start();
  struct stat info {};
  ASSERT_EQ(::lstat(config.socket.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(config.socket.native() + kSocketTempSuffix));
  auto result = get(config.socket, "/v1/server?x=1");
  EXPECT_EQ(result.status, 200u);
  EXPECT_EQ(result.body["target"], "/v1/server?x=1");
  server.stop();
  EXPECT_FALSE(std::filesystem::exists(config.socket));
}

TEST_F(Http, CreatesTheSocketFolder) {
  auto config = socket_config("run/sub/admin.sock");
  AdminHttpServer server(config, echo);
  server.start();
  EXPECT_EQ(get(config.socket, "/").status, 200u);
}

TEST_F(Http, ReplacesAStaleSocketLeftByAKilledServer) {
  auto config = socket_config();
  {
    // A bound socket file with nobody listening, as after kill -9.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, config.socket.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::close(fd);
  }
  ASSERT_TRUE(std::filesystem::exists(config.socket));
  AdminHttpServer server(config, echo);
  ASSERT_NO_THROW(server.start());
  EXPECT_EQ(get(config.socket, "/").status, 200u);
}

TEST_F(Http, RefusesASocketAnotherServerServes) {
  auto config = socket_config();
  AdminHttpServer first(config, echo);
  first.start();
  AdminHttpServer second(config, echo);
  try {
    second.start();
    FAIL() << "a second server took over a live socket";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("another process is serving it"), std::string::npos) << error.what();
  }
  EXPECT_EQ(get(config.socket, "/still-first").status, 200u);
}

TEST_F(Http, RefusesToReplaceAFileThatIsNotASocket) {
  auto config = socket_config();
  std::ofstream(config.socket) << "precious";
  AdminHttpServer server(config, echo);
  EXPECT_THROW(server.start(), std::runtime_error);
  std::ifstream in(config.socket);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(Http, TcpListenerRequiresTheBearerToken) {
  auto config = socket_config();
  config.listen = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  config.listen_text = "127.0.0.1:0";
  config.token = "0123456789abcdef0123";
  AdminHttpServer server(config, echo);
  server.start();
  ASSERT_NE(server.tcp_port(), 0);
  auto request = [&](const std::string& token) {
    stsctl::Endpoint endpoint;
    endpoint.host = "127.0.0.1";
    endpoint.port = server.tcp_port();
    endpoint.token = token;
    endpoint.description = "tcp";
    stsctl::AdminClient client(endpoint, std::chrono::seconds(10));
    return client.request("GET", "/v1/server");
  };
  auto missing = request("");
  EXPECT_EQ(missing.status, 401u);
  EXPECT_NE(missing.body["error"].get<std::string>().find("bearer token"), std::string::npos);
  EXPECT_EQ(request("0123456789abcdef0124").status, 401u);
  EXPECT_EQ(request("0123456789abcdef012").status, 401u);
  EXPECT_EQ(request("0123456789abcdef0123").status, 200u);
  // The unix socket needs no token.
  EXPECT_EQ(get(config.socket, "/").status, 200u);
}

TEST_F(Http, KeepsTheConnectionAliveAcrossRequests) {
  auto config = socket_config();
  int calls = 0;
  AdminHttpServer server(config, [&](const ApiRequest& r) {
    ++calls;
    return echo(r);
  });
  server.start();
  stsctl::Endpoint endpoint;
  endpoint.socket = config.socket.native();
  stsctl::AdminClient client(endpoint, std::chrono::seconds(10));
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
  AdminHttpServer server(config, [&](const ApiRequest& r) {
    handler_called = true;
    return echo(r);
  }, limits);
  server.start();
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
        RawCase{"body_too_large",
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
  AdminHttpServer server(config, echo);
  server.start();
  std::string answer = raw_exchange(config.socket,
                                    "POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(answer.rfind("HTTP/1.1 100 Continue", 0), 0u) << answer;
  EXPECT_NE(answer.find("HTTP/1.1 200 OK"), std::string::npos) << answer;
}

TEST_F(Http, ReconfigureMovesTheSocketAndKeepsTheOldOneOnFailure) {
  auto config = socket_config("a.sock");
  AdminHttpServer server(config, echo);
  server.start();
  auto moved = socket_config("b.sock");
  server.reconfigure(moved);
  EXPECT_FALSE(std::filesystem::exists(config.socket));
  EXPECT_EQ(get(moved.socket, "/").status, 200u);

  auto blocked = socket_config("c.sock");
  std::ofstream(blocked.socket) << "not a socket";
  EXPECT_THROW(server.reconfigure(blocked), std::runtime_error);
  EXPECT_EQ(get(moved.socket, "/").status, 200u);
}

TEST_F(Http, StopWithAnIdleClientConnectedIsPrompt) {
  auto config = socket_config();
  AdminHttpServer server(config, echo);
  server.start();
  stsctl::Endpoint endpoint;
  endpoint.socket = config.socket.native();
  stsctl::AdminClient client(endpoint, std::chrono::seconds(10));
  ASSERT_EQ(client.request("GET", "/").status, 200u);   // leaves a kept-alive connection open
  auto begin = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(2));
}

}  // namespace
}  // namespace stsd::mtasts
