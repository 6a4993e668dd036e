#include "server/udp_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include "server/query_processor.h"

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
  // Our UDP answers are bounded by `udp_size` (at most 4096) or 512.
  static constexpr size_t kAnswerCapacity = 4096;
  // Room for one IP_PKTINFO or IPV6_PKTINFO control message.
  static constexpr size_t kControlCapacity = CMSG_SPACE(sizeof(in6_pktinfo));

  explicit Batch(bool wildcard)
      : wildcard_address(wildcard),
        queries(new uint8_t[kSize * kQueryCapacity]),
        answers(new uint8_t[kSize * kAnswerCapacity]) {
    std::memset(in, 0, sizeof in);
    std::memset(out, 0, sizeof out);
  }

  // Bound to 0.0.0.0 or ::, the kernel would pick the answer's source address by route,
  // which is not always the address the client asked (a host with several addresses):
  // read the query's destination (IP_PKTINFO) and answer from it, as clients check.
  bool wildcard_address;
  // The socket's thread answers with its own processor and chain view (neither is
  // shared with the worker's TCP thread).
  QueryProcessor processor;
  ChainCache chain;
  std::unique_ptr<uint8_t[]> queries;
  std::unique_ptr<uint8_t[]> answers;
  mmsghdr in[kSize];
  iovec in_iov[kSize];
  sockaddr_storage peers[kSize];
  alignas(cmsghdr) uint8_t in_control[kSize][kControlCapacity];
  mmsghdr out[kSize];
  iovec out_iov[kSize];
  alignas(cmsghdr) uint8_t out_control[kSize][kControlCapacity];
};

namespace {

bool endpoint_of(const sockaddr_storage& peer, asio::ip::address& address, uint16_t& port) {
  if (peer.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    address = asio::ip::address_v4(ntohl(v4.sin_addr.s_addr));
    port = ntohs(v4.sin_port);
    return true;
  }
  if (peer.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
    asio::ip::address_v6::bytes_type bytes;
    std::memcpy(bytes.data(), v6.sin6_addr.s6_addr, bytes.size());
    address = asio::ip::address_v6(bytes, v6.sin6_scope_id);
    port = ntohs(v6.sin6_port);
    return true;
  }
  return false;
}

template <class Info>
size_t write_control(uint8_t* out, int level, int type, const Info& info) {
  auto* message = reinterpret_cast<cmsghdr*>(out);
  message->cmsg_level = level;
  message->cmsg_type = type;
  message->cmsg_len = CMSG_LEN(sizeof info);
  std::memcpy(CMSG_DATA(message), &info, sizeof info);
  return CMSG_SPACE(sizeof info);
}

// Turns the query's destination (IP_PKTINFO / IPV6_PKTINFO received) into the source
// to answer from; returns the control length to send (0: let the kernel choose).
size_t answer_source(const msghdr& query, uint8_t* out) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&query); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&query), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      // From the address asked, through whichever interface routes to the client.
      info.ipi_spec_dst = info.ipi_addr;
      info.ipi_ifindex = 0;
      return write_control(out, IPPROTO_IP, IP_PKTINFO, info);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;  // the interface stays: a link-local destination needs it
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      return write_control(out, IPPROTO_IPV6, IPV6_PKTINFO, info);
    }
  }
  return 0;
}

}  // namespace

UdpListener::UdpListener(asio::io_context& io, const udp::endpoint& address, std::shared_ptr<const ChainSlot> slot,
                         const ListenerSettings& settings)
    : slot_(std::move(slot)), settings_(settings) {
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
  batch_ = std::make_unique<Batch>(wildcard);
  // Out of the reactor: release() deregisters the descriptor from epoll.
  fd_ = socket.release();
}

UdpListener::~UdpListener() {
  if (fd_ >= 0) ::close(fd_);
}

void UdpListener::wake() { ::shutdown(fd_, SHUT_RD); }

// UDP bypasses the event loop: the thread blocks in recvmmsg until a datagram arrives,
// takes every datagram waiting (up to kSize, MSG_WAITFORONE) and sends the answers with
// one sendmmsg. Two system calls per burst, where a readiness wait through the reactor
// costs four (epoll_wait, an epoll_ctl re-arm, receive, send); on virtual machines each
// call and each sleep is dear (bench/results).
void UdpListener::serve(const std::atomic<bool>& stopping) {
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
    h.msg_controllen = b.wildcard_address ? Batch::kControlCapacity : 0;
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
  const Chain& served_by = b.chain.get(*slot_);  // a reload applies here
  unsigned answers = 0;
  asio::ip::address client;
  uint16_t client_port = 0;
  for (int i = 0; i < received; ++i) {
    if (!endpoint_of(b.peers[i], client, client_port)) continue;
    const auto response = b.processor.process({b.queries.get() + i * Batch::kQueryCapacity, b.in[i].msg_len},
                                              dns::Transport::Udp, client, client_port, served_by, settings_);
    if (response.empty() || response.size() > Batch::kAnswerCapacity) continue;
    uint8_t* slot = b.answers.get() + answers * Batch::kAnswerCapacity;
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
