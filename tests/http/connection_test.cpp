// The connection handler over TCP and a unix socket: size limits, keep-alive and
// pipelining, HEAD, 100-continue, the header check, the request rate, the timeouts
// that cut slow clients, and stopping.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "http/server.h"
#include "http_test_support.h"

namespace stsd::http {

// Found by argument-dependent lookup, so it lives in Transport's namespace.
void PrintTo(Transport transport, std::ostream* os) { *os << (transport == Transport::Unix ? "unix" : "tcp"); }

namespace {

using namespace std::chrono_literals;
using namespace testing;

// Answers "<method> <target> <body>" and counts its calls.
struct Echo {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  Reply operator()(const Request& request) const {
    ++*calls;
    if (request.target == "/throw") throw std::runtime_error("boom");
    Reply reply;
    reply.headers.emplace_back("Content-Type", "text/plain");
    reply.body = request.method + " " + request.target + " " + request.body;
    return reply;
  }
};

struct Fixture {
  SocketFolder folder;
  Echo echo;
  std::unique_ptr<Server> server;

  explicit Fixture(ServerSettings settings = base_settings(), HeaderCheck check = {}) {
    Hooks hooks;
    hooks.handler = echo;
    hooks.check_header = std::move(check);
    server = std::make_unique<Server>(std::move(settings), std::move(hooks));
    server->start({ListenAddress::tcp(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
                   ListenAddress::unix_socket(folder.path() / "s.sock")});
  }
  static ServerSettings base_settings() {
    ServerSettings settings;
    settings.name = "test";
    settings.connection.limits = {.max_header_bytes = 2048, .max_body_bytes = 1024};
    return settings;
  }
  tcp::endpoint endpoint() const { return server->tcp_endpoints().at(0); }
  std::filesystem::path socket() const { return folder.path() / "s.sock"; }
};

// Every case runs over TCP and over the unix socket.
class Connection : public ::testing::TestWithParam<Transport> {
 protected:
  std::string exchange_with(const Fixture& fixture, const std::string& request) {
    return GetParam() == Transport::Unix ? exchange(fixture.socket(), request) : exchange(fixture.endpoint(), request);
  }
  template <class Check>
  void with_client(const Fixture& fixture, Check check, std::chrono::milliseconds timeout = 5s) {
    if (GetParam() == Transport::Unix) {
      UnixClient client(local_stream::endpoint(fixture.socket().native()), timeout);
      check(client);
    } else {
      TcpClient client(fixture.endpoint(), timeout);
      check(client);
    }
  }
};

struct LimitCase {
  const char* name;
  std::string request;
  std::string status_line;
  std::string body_part;
};

TEST_P(Connection, OversizedOrMalformedRequestsGetAnErrorAndTheHandlerIsNotCalled) {
  const LimitCase cases[] = {
      {"body_too_large", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, ' '),
       "HTTP/1.1 413", "request body larger than 1024 bytes"},
      {"headers_too_large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431", "request headers larger than 2048 bytes"},
      {"not_http", "HELLO THERE\r\n\r\n", "HTTP/1.1 400", "malformed HTTP request"},
      {"bad_content_length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n", "HTTP/1.1 400",
       "malformed HTTP request"},
  };
  Fixture fixture;
  for (const auto& c : cases) {
    const auto answer = exchange_with(fixture, c.request);
    EXPECT_TRUE(starts_with(answer, c.status_line)) << c.name << ": " << answer;
    EXPECT_NE(answer.find(c.body_part), std::string::npos) << c.name << ": " << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << c.name << ": " << answer;
  }
  EXPECT_EQ(*fixture.echo.calls, 0);
  EXPECT_NE(exchange_with(fixture, "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("GET /after"),
            std::string::npos);
}

TEST_P(Connection, KeepsAliveAndAnswersPipelinedRequestsInOrder) {
  Fixture fixture;
  const auto answer = exchange_with(fixture,
                                    "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                                    "GET /two HTTP/1.1\r\nHost: x\r\n\r\n"
                                    "GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto one = answer.find("POST /one abc"), two = answer.find("GET /two"), three = answer.find("GET /three");
  ASSERT_NE(one, std::string::npos) << answer;
  ASSERT_NE(two, std::string::npos) << answer;
  ASSERT_NE(three, std::string::npos) << answer;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
  EXPECT_EQ(*fixture.echo.calls, 3);
  EXPECT_NE(answer.find("Server: stsd"), std::string::npos);
  EXPECT_NE(answer.find("Date: "), std::string::npos);
}

TEST_P(Connection, HeadGetsTheLengthOfTheBodyButNoBody) {
  Fixture fixture;
  const auto answer = exchange_with(fixture, "HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 200")) << answer;
  EXPECT_NE(answer.find("Content-Length: 8\r\n"), std::string::npos) << answer;  // "HEAD /h "
  EXPECT_EQ(answer.substr(answer.find("\r\n\r\n") + 4), "") << answer;
}

TEST_P(Connection, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  Fixture fixture;
  with_client(fixture, [](auto& client) {
    client.send(
        "POST /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    EXPECT_TRUE(starts_with(client.read_until("\r\n\r\n"), "HTTP/1.1 100 Continue"));
    client.send("{}");
    EXPECT_NE(client.read_all().find("POST /c {}"), std::string::npos);
  });
}

TEST_P(Connection, TheHeaderCheckRefusesBeforeTheBodyIsRead) {
  std::atomic<int> checks{0};
  Fixture fixture(Fixture::base_settings(), [&](const Request& request) -> std::optional<Reply> {
    ++checks;
    if (request.header("X-Key")) return std::nullopt;
    return text_error_reply(401, "no key");
  });
  const auto refused = exchange_with(fixture, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
  EXPECT_TRUE(starts_with(refused, "HTTP/1.1 401")) << refused;  // the 5 body bytes were never sent
  EXPECT_EQ(*fixture.echo.calls, 0);
  const auto allowed = exchange_with(
      fixture, "POST /x HTTP/1.1\r\nHost: x\r\nX-Key: 1\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_NE(allowed.find("POST /x ok"), std::string::npos) << allowed;
  EXPECT_EQ(checks, 2);
}

TEST_P(Connection, AHandlerThatThrowsGets500AndTheServerGoesOn) {
  Fixture fixture;
  const auto answer = exchange_with(fixture, "GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 500")) << answer;
  EXPECT_NE(exchange_with(fixture, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("GET /ok"),
            std::string::npos);
}

TEST_P(Connection, ARequestTrickledByteByByteIsCutAtTheFirstRequestDeadline) {
  auto settings = Fixture::base_settings();
  settings.connection.timeouts.first_request = 1s;
  Fixture fixture(settings);
  with_client(
      fixture,
      [](auto& client) {
        const auto began = std::chrono::steady_clock::now();
        client.send("GET / HTTP/1.1\r\n");
        bool cut = false;
        while (!cut && std::chrono::steady_clock::now() - began < 5s) {
          client.send("X");                 // one header byte at a time, never finishing
          cut = client.closed_by_server();  // waits 300 ms for the server to hang up
        }
        const auto elapsed = std::chrono::steady_clock::now() - began;
        EXPECT_TRUE(cut);
        EXPECT_GE(elapsed, 800ms);
        EXPECT_LT(elapsed, 3s);
      },
      300ms);
}

TEST_P(Connection, AnIdleKeptAliveConnectionIsClosedAfterTheIdleTimeout) {
  auto settings = Fixture::base_settings();
  settings.connection.timeouts.idle = 1s;
  Fixture fixture(settings);
  with_client(fixture, [](auto& client) {
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(starts_with(client.read_until("GET / "), "HTTP/1.1 200"));
    const auto began = std::chrono::steady_clock::now();
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_GE(std::chrono::steady_clock::now() - began, 800ms);
  });
}

TEST_P(Connection, StopClosesIdleConnectionsPromptly) {
  Fixture fixture;
  with_client(fixture, [&](auto& client) {
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(starts_with(client.read_until("GET / "), "HTTP/1.1 200"));  // kept alive, now idle
    const auto began = std::chrono::steady_clock::now();
    fixture.server->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - began, 500ms);
    EXPECT_TRUE(client.closed_by_server());
  });
}

TEST_P(Connection, AmbiguousFramingGets400AndACloseAndNothingAfterItIsAnswered) {
  Fixture fixture;
  for (const auto& c : smuggling_cases()) {
    with_client(
        fixture,
        [&](auto& client) {
          client.send(c.bytes);
          const auto answer = client.read_until_closed();
          ASSERT_TRUE(answer) << c.name << ": the connection stayed open";
          EXPECT_TRUE(starts_with(answer->substr(0, 5) + answer->substr(8), "HTTP/ 400")) << c.name << ": " << *answer;
          EXPECT_EQ(status_lines(*answer), 1u) << c.name << ": " << *answer;
          if (!starts_with(c.bytes, "HEAD"))  // a reply to HEAD has no body (RFC 9110 §9.3.2)
            EXPECT_NE(answer->find("malformed HTTP request"), std::string::npos) << c.name << ": " << *answer;
        },
        2s);
  }
  EXPECT_EQ(*fixture.echo.calls, 0);
  // What is unambiguous is still read: a chunked upload, and a GET with an empty body.
  EXPECT_NE(exchange_with(fixture,
                          "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                          "2\r\nok\r\n0\r\n\r\n")
                .find("POST /c ok"),
            std::string::npos);
  EXPECT_NE(exchange_with(fixture, "GET /g HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .find("GET /g"),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Transports, Connection, ::testing::Values(Transport::Tcp, Transport::Unix),
                         [](const ::testing::TestParamInfo<Transport>& info) {
                           return info.param == Transport::Unix ? "unix" : "tcp";
                         });

TEST(ConnectionRate, RequestsBeyondTheClientsRateGet429AndClose) {
  auto settings = Fixture::base_settings();
  settings.limits.requests_per_second = 1;
  settings.limits.burst = 2;
  Fixture fixture(settings);
  TcpClient client(fixture.endpoint());
  client.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto answer = client.read_all();
  EXPECT_NE(answer.find("GET /2"), std::string::npos) << answer;
  EXPECT_NE(answer.find("HTTP/1.1 429"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Retry-After: 1"), std::string::npos) << answer;
  EXPECT_EQ(*fixture.echo.calls, 2);
  // The unix socket has no rate: its clients are authenticated by the file mode.
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(starts_with(exchange(fixture.socket(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                            "HTTP/1.1 200"));
}

TEST(ConnectionStop, ARequestInProgressFinishesItsReply) {
  ServerSettings settings = Fixture::base_settings();
  settings.stop_grace = 3s;
  std::atomic<bool> entered{false};
  Hooks hooks;
  hooks.handler = [&](const Request&) {
    entered = true;
    std::this_thread::sleep_for(300ms);
    Reply reply;
    reply.body = "finished";
    return reply;
  };
  Server server(settings, hooks);
  server.start({ListenAddress::tcp(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0))});
  TcpClient client(server.tcp_endpoints().at(0));
  client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!entered) std::this_thread::sleep_for(5ms);
  server.stop();
  const auto answer = client.read_all();
  EXPECT_TRUE(starts_with(answer, "HTTP/1.1 200")) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_NE(answer.find("finished"), std::string::npos) << answer;
}

}  // namespace
}  // namespace stsd::http
