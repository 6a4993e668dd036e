#include "server/udp_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include "logging.h"

namespace stsd {
namespace asio = boost::asio;
using asio::ip::udp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Buffers for one recvmmsg/sendmmsg round. One datagram costs one system call each way
// and an epoll wake-up when read one at a time; under load that is most of an answer's
// CPU time (bench/results), so a socket's thread takes up to kSize datagrams per call
// (as Knot and NSD do).
struct UdpListener::Batch {
  static constexpr size_t kSize = 32;
  // A UDP payload is at most 65,507 octets: the query buffers never truncate. The block
  // is allocated uninitialised, so only the pages that datagrams reach become resident.
  static constexpr size_t kQueryCapacity = 65536;

  explicit Batch(bool wildcard)
      : wildcard_address(wildcard),
        queries(new uint8_t[kSize * kQueryCapacity]),
        answers(new uint8_t[kSize * kUdpAnswerCapacity]) {
    std::memset(in, 0, sizeof in);
    std::memset(out, 0, sizeof out);
  }

  // Bound to 0.0.0.0 or ::: each answer leaves from the address its query was sent to
  // (answer_source, IP_PKTINFO).
  bool wildcard_address;
  std::unique_ptr<uint8_t[]> queries;
  std::unique_ptr<uint8_t[]> answers;
  mmsghdr in[kSize];
  iovec in_iov[kSize];
  sockaddr_storage peers[kSize];
  alignas(cmsghdr) uint8_t in_control[kSize][kUdpControlCapacity];
  mmsghdr out[kSize];
  iovec out_iov[kSize];
  alignas(cmsghdr) uint8_t out_control[kSize][kUdpControlCapacity];
};

UdpListener::UdpListener(asio::io_context& io, const udp::endpoint& address, std::shared_ptr<const ChainSlot> slot,
                         const ListenerSettings& settings)
    : settings_(settings), answerer_(std::move(slot), settings_) {
  udp::socket socket(io, address.protocol());
  if (address.address().is_v6()) socket.set_option(asio::ip::v6_only(true));
  socket.set_option(reuse_port(true));
  boost::system::error_code ignored;
  socket.set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);
  socket.set_option(asio::socket_base::send_buffer_size(4 << 20), ignored);
  socket.bind(address);
  // The socket's thread blocks in recvmmsg; the timeout only bounds how long a stop can
  // go unnoticed should the wake-up on shutdown() be missed.
  socket.native_non_blocking(false);
  const timeval receive_timeout{1, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof receive_timeout);
  const bool wildcard = address.address().is_unspecified();
  if (wildcard) {
    const int on = 1;
    const bool v6 = address.address().is_v6();
    if (::setsockopt(socket.native_handle(), v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVPKTINFO : IP_PKTINFO, &on,
                     sizeof on) != 0)
      throw boost::system::system_error(errno, boost::system::system_category());
  }
  // Out of the reactor: release() deregisters the descriptor from epoll.
  fd_ = socket.release();
  choose_loop(wildcard);
}

// io_uring unless the config says recvmmsg, or the kernel cannot (then said once per
// process: every socket meets the same kernel).
void UdpListener::choose_loop(bool wildcard) {
  if (settings_.udp_io != UdpIo::Recvmmsg) {
    std::string why_not;
    uring_ = UdpUring::open(fd_, wildcard, settings_, why_not);
    if (!uring_ && settings_.udp_io == UdpIo::IoUring) {
      ::close(fd_);
      fd_ = -1;
      throw std::runtime_error("udp.io is io_uring, but " + why_not);
    }
    static std::atomic<bool> said{false};
    if (!uring_ && !said.exchange(true))
      log::f(log::Level::Warning, "udp: io_uring unavailable (%s); using recvmmsg/sendmmsg", why_not.c_str());
  }
  if (!uring_) batch_ = std::make_unique<Batch>(wildcard);
}

UdpListener::~UdpListener() {
  if (fd_ >= 0) ::close(fd_);
}

void UdpListener::wake() {
  if (uring_)
    uring_->wake();
  else
    ::shutdown(fd_, SHUT_RD);
}

// UDP bypasses the event loop: a readiness wait through the reactor costs four system
// calls per burst (epoll_wait, an epoll_ctl re-arm, receive, send); on virtual machines
// each call and each sleep is dear (bench/results).
void UdpListener::serve(const std::atomic<bool>& stopping) {
  if (uring_)
    uring_->serve(answerer_, stopping);
  else
    serve_recvmmsg(stopping);
}

// The thread blocks in recvmmsg until a datagram arrives, takes every datagram waiting
// (up to kSize, MSG_WAITFORONE) and sends the answers with one sendmmsg: two system calls
// per burst.
void UdpListener::serve_recvmmsg(const std::atomic<bool>& stopping) {
  Batch& batch = *batch_;
  while (!stopping.load(std::memory_order_relaxed)) {
    const int received = receive(batch);
    if (received <= 0) continue;  // timeout, EINTR, or shut down for stopping: look at the flag
    send(batch, answer(batch, received));
  }
}

// One recvmmsg into the batch's query buffers; returns the datagrams read (<= 0: none).
int UdpListener::receive(Batch& b) {
  for (size_t i = 0; i < Batch::kSize; ++i) {
    b.in_iov[i] = {b.queries.get() + i * Batch::kQueryCapacity, Batch::kQueryCapacity};
    msghdr& h = b.in[i].msg_hdr;
    h.msg_name = &b.peers[i];
    h.msg_namelen = sizeof b.peers[i];
    h.msg_iov = &b.in_iov[i];
    h.msg_iovlen = 1;
    h.msg_control = b.wildcard_address ? b.in_control[i] : nullptr;
    h.msg_controllen = b.wildcard_address ? kUdpControlCapacity : 0;
    h.msg_flags = 0;
  }
  const int received = ::recvmmsg(fd_, b.in, Batch::kSize, MSG_WAITFORONE, nullptr);
  if (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    // An unexpected failure (e.g. ENOMEM) must not turn the loop into a busy spin.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return received;
}

// Answers the datagrams received into the batch's answer buffers; returns how many
// answers are ready to send (a query may get none: dropped, or too large).
unsigned UdpListener::answer(Batch& b, int received) {
  const Chain& served_by = answerer_.chain_for_burst();  // a reload applies here
  unsigned answers = 0;
  for (int i = 0; i < received; ++i) {
    const auto response = answerer_.answer(served_by, {b.queries.get() + i * Batch::kQueryCapacity, b.in[i].msg_len},
                                           reinterpret_cast<const sockaddr&>(b.peers[i]));
    if (response.empty()) continue;
    uint8_t* slot = b.answers.get() + answers * kUdpAnswerCapacity;
    std::memcpy(slot, response.data(), response.size());
    b.out_iov[answers] = {slot, response.size()};
    msghdr& h = b.out[answers].msg_hdr;
    h.msg_name = &b.peers[i];
    h.msg_namelen = b.in[i].msg_hdr.msg_namelen;
    h.msg_iov = &b.out_iov[answers];
    h.msg_iovlen = 1;
    h.msg_controllen = b.wildcard_address ? answer_source(b.in[i].msg_hdr, b.out_control[answers]) : 0;
    h.msg_control = h.msg_controllen ? b.out_control[answers] : nullptr;
    h.msg_flags = 0;
    ++answers;
  }
  return answers;
}

// Sends the answers with as few sendmmsg calls as the kernel allows. A full send buffer
// drops the rest, as a lost datagram would be (the client retries).
void UdpListener::send(Batch& b, unsigned answers) {
  for (unsigned sent = 0; sent < answers;) {
    const int n = ::sendmmsg(fd_, b.out + sent, answers - sent, MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<unsigned>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      // One bad destination (e.g. EPERM from a firewall) must not cost the others theirs.
      ++sent;
    }
  }
}

}  // namespace stsd
