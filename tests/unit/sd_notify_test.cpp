// The service manager notification over real unix datagram sockets, as systemd binds
// them: a path and an abstract name; what is sent at each step of the server's life.
#include "server/sd_notify.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

using namespace stsd;

namespace {

// A datagram socket bound like systemd's notify socket, at `address` ("/path" or "@name").
class ManagerSocket {
 public:
  explicit ManagerSocket(std::string address) : address_(std::move(address)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un local{};
    local.sun_family = AF_UNIX;
    std::memcpy(local.sun_path, address_.data(), address_.size());
    if (address_[0] == '@') local.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                               (address_[0] == '/' ? 1 : 0));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), length) != 0)
      throw std::runtime_error("bind " + address_ + ": " + std::strerror(errno));
    timeval timeout{0, 200'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~ManagerSocket() {
    ::close(fd_);
    if (address_[0] == '/') std::filesystem::remove(address_);
  }
  // The next datagram, or nullopt when none arrives within 200 ms.
  std::optional<std::string> receive() {
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(n));
  }
  const std::string& address() const { return address_; }

 private:
  std::string address_;
  int fd_ = -1;
};

std::string unique_suffix() { return std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()); }

std::string temp_socket_path() {
  return (std::filesystem::temp_directory_path() / ("stsd-notify-" + unique_suffix())).string();
}

TEST(NotifySocket, SendsOneDatagramToAPathAndToAnAbstractName) {
  for (const std::string& address : {temp_socket_path(), "@stsd-notify-" + unique_suffix()}) {
    ManagerSocket manager(address);
    const NotifySocket socket(address);
    ASSERT_TRUE(socket.enabled());
    EXPECT_EQ(socket.send("READY=1\nSTATUS=ready"), "") << address;
    EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=ready") << address;
  }
}

TEST(NotifySocket, UnsetSendsNothingAndBadAddressesAreNamed) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(NotifySocket::from_environment().enabled());
  EXPECT_EQ(NotifySocket::from_environment().send("READY=1"), "");
  ::setenv("NOTIFY_SOCKET", "@somewhere", 1);
  EXPECT_TRUE(NotifySocket::from_environment().enabled());
  ::unsetenv("NOTIFY_SOCKET");

  EXPECT_NE(NotifySocket("relative/path").send("READY=1").find("'relative/path' is neither a path nor"),
            std::string::npos);
  EXPECT_NE(NotifySocket("/" + std::string(200, 'x')).send("READY=1").find("is too long"), std::string::npos);
  const auto gone = temp_socket_path();
  EXPECT_NE(NotifySocket(gone).send("READY=1").find("cannot notify " + gone), std::string::npos);
}

TEST(ReadinessNotifier, ReadyOnceTheGatesOpenAroundReloadsAndStopping) {
  ManagerSocket manager(temp_socket_path());
  auto readiness = std::make_shared<Readiness>();
  auto listeners = readiness->add_gate("listeners-bound");
  auto notifier = ReadinessNotifier::listen(NotifySocket(manager.address()), readiness);
  EXPECT_EQ(manager.receive(), "STATUS=waiting for: listeners-bound");
  auto index = readiness->add_gate("store-index-loaded");
  EXPECT_EQ(manager.receive(), "STATUS=waiting for: listeners-bound, store-index-loaded");
  index.open();
  EXPECT_EQ(manager.receive(), "STATUS=waiting for: listeners-bound");
  listeners.open();
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=ready");
  EXPECT_EQ(manager.receive(), std::nullopt);  // once

  notifier->reloading();
  const auto reloading = manager.receive();
  ASSERT_TRUE(reloading);
  EXPECT_EQ(reloading->rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << *reloading;
  EXPECT_NE(reloading->find("\nSTATUS=reloading"), std::string::npos) << *reloading;
  notifier->reload_done("");
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=ready (config reloaded)");

  notifier->reloading();
  manager.receive();
  notifier->reload_done("stsd.yaml:3:1: metrics.listen: bad\nsecond line");
  EXPECT_EQ(manager.receive(),
            "READY=1\nSTATUS=ready; reload rejected, the previous config keeps serving: stsd.yaml:3:1: "
            "metrics.listen: bad second line");

  notifier->stopping();
  EXPECT_EQ(manager.receive(), "STOPPING=1\nSTATUS=stopping");
  EXPECT_FALSE(readiness->ready());
  auto late = readiness->add_gate("late");
  notifier->stopping();
  EXPECT_EQ(manager.receive(), std::nullopt);  // nothing after STOPPING=1
}

TEST(ReadinessNotifier, ADestroyedNotifierHearsNothing) {
  ManagerSocket manager(temp_socket_path());
  auto readiness = std::make_shared<Readiness>();
  auto gate = readiness->add_gate("g");
  {
    auto notifier = ReadinessNotifier::listen(NotifySocket(manager.address()), readiness);
    EXPECT_EQ(manager.receive(), "STATUS=waiting for: g");
  }
  gate.open();
  EXPECT_EQ(manager.receive(), std::nullopt);
}

}  // namespace
