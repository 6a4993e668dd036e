#include "test_secondary.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>

#include "dns/message.h"
#include "dns/name.h"
#include "metrics.h"

namespace stsd::transfer::test {

std::string Received::qname() const {
  dns::Name name;
  size_t offset = dns::kHeaderSize;
  if (!dns::read_name(packet, offset, name)) return "";
  return name.to_text();
}

TestSecondary::TestSecondary(Responder responder) : responder_(std::move(responder)) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd_ < 0) throw std::runtime_error("test secondary: socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    throw std::runtime_error("test secondary: bind");
  socklen_t size = sizeof address;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
  endpoint_ = {boost::asio::ip::address_v4::loopback(), ntohs(address.sin_port)};
  thread_ = std::thread([this] { run(); });
}

TestSecondary::~TestSecondary() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

void TestSecondary::run() {
  std::vector<uint8_t> buffer(65535);
  while (!stop_) {
    pollfd poll_fd{fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, 20) <= 0) continue;
    sockaddr_storage from{};
    socklen_t from_size = sizeof from;
    const ssize_t size =
        ::recvfrom(fd_, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_size);
    if (size < static_cast<ssize_t>(dns::kHeaderSize)) continue;
    std::vector<uint8_t> packet(buffer.begin(), buffer.begin() + size);
    {
      std::lock_guard lock(mutex_);
      received_.push_back({std::chrono::steady_clock::now(), packet});
    }
    if (auto reply = responder_(packet))
      ::sendto(fd_, reply->data(), reply->size(), 0, reinterpret_cast<sockaddr*>(&from), from_size);
  }
}

std::vector<Received> TestSecondary::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

size_t TestSecondary::count() const {
  std::lock_guard lock(mutex_);
  return received_.size();
}

size_t TestSecondary::wait_for(size_t n, std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (count() < n && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return count();
}

TestSecondary::Responder answer_with(uint16_t rcode) {
  return [rcode](const std::vector<uint8_t>& request) -> std::optional<std::vector<uint8_t>> {
    // Header and question only (RFC 1996 §4.7); ANCOUNT, NSCOUNT and ARCOUNT zero.
    size_t offset = dns::kHeaderSize;
    dns::Name name;
    if (!dns::read_name(request, offset, name) || offset + 4 > request.size()) return std::nullopt;
    std::vector<uint8_t> reply(request.begin(), request.begin() + static_cast<ptrdiff_t>(offset + 4));
    reply[2] |= 0x80;  // QR
    reply[3] = static_cast<uint8_t>((reply[3] & 0xf0) | (rcode & 0x0f));
    for (size_t i = 6; i < 12; ++i) reply[i] = 0;
    return reply;
  };
}

TestSecondary::Responder never_answer() {
  return [](const std::vector<uint8_t>&) -> std::optional<std::vector<uint8_t>> { return std::nullopt; };
}

double metric_value(Environment& env, const std::string& sample) {
  std::istringstream lines(metrics::metrics_registry(env)->scrape());
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  return 0;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace stsd::transfer::test
