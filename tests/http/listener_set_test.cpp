// The listener set through http::Server: two-phase rebinding (prepare / commit /
// abandon), unix socket files (mode, stale files, a live socket of another process),
// admission (the pending and the established pool, the 503 past a cap) and the accept
// back-off.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "http/server.h"
#include "http_test_support.h"

namespace stsd::http {
namespace {

using namespace std::chrono_literals;
using namespace testing;

const auto kLoopback = asio::ip::make_address("127.0.0.1");
const std::string kGet = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

Reply hello(const Request&) {
  Reply reply;
  reply.body = "hello";
  return reply;
}

std::unique_ptr<Server> make_server(ConnectionLimits::Settings limits = {}) {
  ServerSettings settings;
  settings.name = "test";
  settings.limits = limits;
  Hooks hooks;
  hooks.handler = hello;
  return std::make_unique<Server>(settings, hooks);
}

ListenAddress any_port() { return ListenAddress::tcp(tcp::endpoint(kLoopback, 0)); }
// Another address than any_port(): the same address in the old and the new list keeps
// its socket, port 0 included.
ListenAddress another_address() { return ListenAddress::tcp(tcp::endpoint(asio::ip::make_address("127.0.0.2"), 0)); }

bool serves(const tcp::endpoint& endpoint) {
  try {
    return starts_with(exchange(endpoint, kGet), "HTTP/1.1 200");
  } catch (const boost::system::system_error&) {
    return false;
  }
}

bool serves(const std::filesystem::path& socket) {
  try {
    return starts_with(exchange(socket, kGet), "HTTP/1.1 200");
  } catch (const boost::system::system_error&) {
    return false;
  }
}

// The old listener closes on the server's thread; give it a moment.
bool eventually_refuses(const tcp::endpoint& endpoint) {
  for (int i = 0; i < 100; ++i) {
    if (!serves(endpoint)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(ListenerSet, APortInUseIsFoundByPrepareAndNothingChanges) {
  auto server = make_server();
  server->start({any_port()});
  const auto serving = server->tcp_endpoints().at(0);
  asio::io_context io;
  tcp::acceptor holder(io, tcp::endpoint(kLoopback, 0));
  const auto taken = holder.local_endpoint();
  try {
    auto prepared = server->prepare({ListenAddress::tcp(taken)});
    ADD_FAILURE() << "prepared an address in use";
  } catch (const BindError& error) {
    EXPECT_NE(std::string(error.what()).find("cannot listen on " + endpoint_text(taken)), std::string::npos)
        << error.what();
    EXPECT_EQ(error.address, ListenAddress::tcp(taken));
  }
  EXPECT_EQ(server->tcp_endpoints(), std::vector<tcp::endpoint>{serving});
  EXPECT_TRUE(serves(serving));
}

TEST(ListenerSet, APreparedAddressAcceptsNothingAndAnAbandonedOneIsFreed) {
  auto server = make_server();
  server->start({any_port()});
  const auto serving = server->tcp_endpoints().at(0);
  tcp::endpoint prepared_endpoint;
  {
    auto prepared = server->prepare({another_address()});
    prepared_endpoint = prepared.addresses().at(0).endpoint;
    ASSERT_NE(prepared_endpoint.port(), 0);
    EXPECT_FALSE(serves(prepared_endpoint)) << "bound but not listening before commit";
  }
  // Dropped uncommitted: the port is free again and the old one still serves.
  asio::io_context io;
  boost::system::error_code error;
  tcp::acceptor again(io);
  again.open(tcp::v4());
  again.set_option(asio::socket_base::reuse_address(true));
  again.bind(prepared_endpoint, error);
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(server->tcp_endpoints(), std::vector<tcp::endpoint>{serving});
  EXPECT_TRUE(serves(serving));
}

TEST(ListenerSet, CommitServesTheNewAddressesAndClosesTheOldOnes) {
  auto server = make_server();
  server->start({any_port()});
  const auto old_endpoint = server->tcp_endpoints().at(0);
  auto prepared = server->prepare({another_address()});
  const auto new_endpoint = prepared.addresses().at(0).endpoint;
  EXPECT_TRUE(serves(old_endpoint));
  server->listen(std::move(prepared));
  EXPECT_TRUE(serves(new_endpoint));
  EXPECT_TRUE(eventually_refuses(old_endpoint));
  EXPECT_EQ(server->tcp_endpoints(), std::vector<tcp::endpoint>{new_endpoint});
}

TEST(ListenerSet, AnAddressInBothListsKeepsItsSocket) {
  auto server = make_server();
  const auto fixed = any_port();
  server->start({fixed});
  const auto kept = server->tcp_endpoints().at(0);
  auto prepared = server->prepare({fixed, another_address()});
  EXPECT_EQ(prepared.addresses().at(0).endpoint, kept);
  server->listen(std::move(prepared));
  ASSERT_EQ(server->tcp_endpoints().size(), 2u);
  EXPECT_EQ(server->tcp_endpoints()[0], kept);
  EXPECT_TRUE(serves(kept));
  EXPECT_TRUE(serves(server->tcp_endpoints()[1]));
}

// --- unix sockets -------------------------------------------------------------------------

TEST(ListenerSet, AUnixSocketHasItsModeAndIsRemovedAtStop) {
  SocketFolder folder;
  const auto path = folder.path() / "run" / "a.sock";  // the folder is created
  auto server = make_server();
  server->start({ListenAddress::unix_socket(path, 0600)});
  struct stat info {};
  ASSERT_EQ(::lstat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path.native() + std::string(kSocketTempSuffix)));
  EXPECT_TRUE(serves(path));
  server->stop();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ListenerSet, AStaleSocketLeftByAKilledServerIsReplaced) {
  SocketFolder folder;
  const auto path = folder.path() / "a.sock";
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::close(fd);  // bound, nobody listening: as after kill -9
  }
  auto server = make_server();
  ASSERT_NO_THROW(server->start({ListenAddress::unix_socket(path)}));
  EXPECT_TRUE(serves(path));
}

TEST(ListenerSet, ASocketAnotherServerServesIsRefused) {
  SocketFolder folder;
  const auto path = folder.path() / "a.sock";
  auto first = make_server();
  first->start({ListenAddress::unix_socket(path)});
  auto second = make_server();
  try {
    second->start({ListenAddress::unix_socket(path)});
    ADD_FAILURE() << "a second server took over a live socket";
  } catch (const BindError& error) {
    EXPECT_NE(std::string(error.what()).find("another process is serving it"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(serves(path));
}

TEST(ListenerSet, AFileThatIsNotASocketIsNeverReplaced) {
  SocketFolder folder;
  const auto path = folder.path() / "a.sock";
  std::ofstream(path) << "precious";
  auto server = make_server();
  EXPECT_THROW(server->start({ListenAddress::unix_socket(path)}), BindError);
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST(ListenerSet, MovingTheSocketRemovesTheOldFileAndAnAbandonedMoveLeavesNoTrace) {
  SocketFolder folder;
  const auto a = folder.path() / "a.sock", b = folder.path() / "b.sock", c = folder.path() / "c.sock";
  auto server = make_server();
  server->start({ListenAddress::unix_socket(a)});
  {
    auto abandoned = server->prepare({ListenAddress::unix_socket(c)});
    EXPECT_FALSE(std::filesystem::exists(c)) << "in place only at commit";
  }
  EXPECT_FALSE(std::filesystem::exists(c.native() + std::string(kSocketTempSuffix)));
  EXPECT_TRUE(serves(a));
  server->listen(server->prepare({ListenAddress::unix_socket(b)}));
  EXPECT_TRUE(serves(b));
  EXPECT_FALSE(std::filesystem::exists(a));
}

// --- caps and back-off ----------------------------------------------------------------------

// A 503 with Retry-After and a close, never a bare reset (RFC 9112 §9.6).
void expect_busy(const std::optional<std::string>& answer) {
  ASSERT_TRUE(answer) << "the connection stayed open";
  EXPECT_TRUE(starts_with(*answer, "HTTP/1.1 503")) << *answer;
  EXPECT_NE(answer->find("Retry-After: 1\r\n"), std::string::npos) << *answer;
  EXPECT_NE(answer->find("too many test connections"), std::string::npos) << *answer;
  EXPECT_NE(answer->find("Connection: close"), std::string::npos) << *answer;
}

TEST(ListenerSet, ARequestBeyondTheCapGets503AndTheUnixSocketHasItsOwnPool) {
  SocketFolder folder;
  const auto path = folder.path() / "a.sock";
  auto server = make_server({.max_connections = 2});
  server->start({any_port(), ListenAddress::unix_socket(path)});
  const auto endpoint = server->tcp_endpoints().at(0);
  TcpClient first(endpoint), second(endpoint);
  first.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  second.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(starts_with(first.read_until("hello"), "HTTP/1.1 200"));
  ASSERT_TRUE(starts_with(second.read_until("hello"), "HTTP/1.1 200"));
  TcpClient third(endpoint);
  third.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_busy(third.read_until_closed());
  // Network clients cannot take the slots of the socket a local operator uses.
  EXPECT_TRUE(serves(path));
  // Its own cap: past it, the 503 is said at once, before the request is read.
  UnixClient local1(local_stream::endpoint(path.native())), local2(local_stream::endpoint(path.native()));
  std::this_thread::sleep_for(100ms);  // both accepted
  UnixClient local3(local_stream::endpoint(path.native()));
  local3.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_busy(local3.read_until_closed());
}

TEST(ListenerSet, ARequestBeyondThePerClientCapGets503) {
  auto server = make_server({.max_connections = 10, .max_connections_per_client = 1});
  server->start({any_port()});
  const auto endpoint = server->tcp_endpoints().at(0);
  TcpClient first(endpoint);
  first.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(starts_with(first.read_until("hello"), "HTTP/1.1 200"));
  TcpClient second(endpoint);
  second.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_busy(second.read_until_closed());
}

TEST(ListenerSet, IdleConnectionsCannotLockOutAClientThatSendsItsRequest) {
  auto server = make_server({.max_connections = 4, .max_pending = 4});
  server->start({any_port()});
  const auto endpoint = server->tcp_endpoints().at(0);
  std::vector<std::unique_ptr<TcpClient>> idle;
  for (int i = 0; i < 40; ++i) idle.push_back(std::make_unique<TcpClient>(endpoint, 300ms));
  std::this_thread::sleep_for(200ms);  // all accepted; the oldest made room for the newer
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(serves(endpoint)) << "request " << i;
  size_t closed = 0;
  for (auto& client : idle) closed += client->closed_by_server() ? 1 : 0;
  EXPECT_GE(closed, 36u) << "the pending pool holds at most 4";
}

TEST(ListenerSet, PendingConnectionsBeyondThePerClientCapGet503AtOnce) {
  auto server = make_server({.max_pending = 10, .max_pending_per_client = 2});
  server->start({any_port()});
  const auto endpoint = server->tcp_endpoints().at(0);
  TcpClient first(endpoint), second(endpoint);
  std::this_thread::sleep_for(100ms);
  TcpClient third(endpoint);
  expect_busy(third.read_until_closed());
  first.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(starts_with(first.read_until("hello"), "HTTP/1.1 200"));  // established, no longer pending
  EXPECT_TRUE(serves(endpoint));
}

TEST(ListenerSet, OutOfDescriptorsAcceptBacksOffAndRecovers) {
  auto server = make_server();
  server->start({any_port()});
  const auto endpoint = server->tcp_endpoints().at(0);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> hoard;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) hoard.push_back(fd);
  ::close(hoard.back());  // exactly one descriptor left, for the client
  hoard.pop_back();
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(endpoint.port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected = client >= 0 && ::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  std::this_thread::sleep_for(500ms);  // the server's accept fails with EMFILE meanwhile
  const auto failures = server->listeners().accept_failures();
  for (int fd : hoard) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(connected);
  EXPECT_GE(failures, 1u) << "the accept never ran out of descriptors";
  EXPECT_LE(failures, 10u) << "accept spins instead of backing off";
  timeval tv{5, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ASSERT_EQ(::send(client, kGet.data(), kGet.size(), 0), static_cast<ssize_t>(kGet.size()));
  char answer[16] = {};
  EXPECT_GT(::recv(client, answer, 12, MSG_WAITALL), 0);
  EXPECT_EQ(std::string(answer, 12), "HTTP/1.1 200") << "the queued connection is served afterwards";
  ::close(client);
}

}  // namespace
}  // namespace stsd::http
