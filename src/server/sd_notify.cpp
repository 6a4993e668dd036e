#include "server/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "logging.h"

namespace stsd {
namespace {

// A value goes on one line of the datagram: a line break would start another variable.
std::string one_line(std::string text) {
  for (auto& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

uint64_t monotonic_microseconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
}

}  // namespace

NotifySocket NotifySocket::from_environment() {
  const char* address = std::getenv("NOTIFY_SOCKET");
  return NotifySocket(address ? address : "");
}

std::string NotifySocket::send(std::string_view state) const {
  if (!enabled()) return {};
  sockaddr_un peer{};
  peer.sun_family = AF_UNIX;
  // sd_notify(3): a path, or '@' for a name in the abstract namespace (a leading NUL).
  if (address_[0] != '/' && address_[0] != '@')
    return "NOTIFY_SOCKET '" + address_ + "' is neither a path nor an abstract '@name'";
  if (address_.size() >= sizeof(peer.sun_path)) return "NOTIFY_SOCKET '" + address_ + "' is too long";
  std::memcpy(peer.sun_path, address_.data(), address_.size());
  if (address_[0] == '@') peer.sun_path[0] = '\0';
  // A path's length counts its terminating NUL; an abstract name is exactly its octets.
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                             (address_[0] == '/' ? 1 : 0));
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("cannot create a unix socket: ") + std::strerror(errno);
  const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&peer), length);
  const int error = errno;
  ::close(fd);
  if (sent < 0) return "cannot notify " + address_ + ": " + std::strerror(error);
  return {};
}

std::shared_ptr<ReadinessNotifier> ReadinessNotifier::listen(NotifySocket socket,
                                                             std::shared_ptr<Readiness> readiness) {
  auto notifier = std::make_shared<ReadinessNotifier>(std::move(socket), readiness);
  std::weak_ptr<ReadinessNotifier> weak = notifier;
  readiness->on_change([weak] {
    if (auto alive = weak.lock()) alive->update();
  });
  notifier->update();
  return notifier;
}

ReadinessNotifier::~ReadinessNotifier() { readiness_->on_change(nullptr); }

void ReadinessNotifier::update() {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  if (readiness_->ready()) {
    if (ready_sent_) return;
    ready_sent_ = true;
    last_status_ = ready_status_;
    send_locked("READY=1\nSTATUS=" + one_line(ready_status_));
    return;
  }
  const std::string status = "waiting for: " + join(readiness_->closed_gates());
  if (status == last_status_) return;
  last_status_ = status;
  send_locked("STATUS=" + one_line(status));
}

void ReadinessNotifier::reloading() {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  ready_sent_ = false;
  last_status_ = "reloading";
  send_locked("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_microseconds()) + "\nSTATUS=reloading");
}

void ReadinessNotifier::reload_done(const std::string& error) {
  {
    std::lock_guard lock(mutex_);
    ready_status_ = error.empty() ? "ready (config reloaded)"
                                  : "ready; reload rejected, the previous config keeps serving: " + error;
  }
  update();
}

void ReadinessNotifier::stopping() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    send_locked("STOPPING=1\nSTATUS=stopping");
  }
  readiness_->set_stopping();  // after the flag: update() reports nothing more
}

void ReadinessNotifier::send_locked(const std::string& state) {
  const auto error = socket_.send(state);
  if (error.empty() || send_failure_logged_) return;
  send_failure_logged_ = true;  // the service manager is gone or misconfigured: say it once
  log::warn("sd_notify: " + error);
}

}  // namespace stsd
