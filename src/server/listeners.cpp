#include "server/listeners.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "logging.h"

namespace stsd {
namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

QueryProcessor::QueryProcessor() : buffer_(dns::ResponseWriter::kMaxMessage), writer_(buffer_) {}

std::span<const uint8_t> QueryProcessor::process(std::span<const uint8_t> packet, dns::Transport transport,
                                                 const asio::ip::address& client, uint16_t client_port,
                                                 const Chain& chain, uint16_t udp_size) {
  request_.transport = transport;
  request_.client = client;
  request_.client_port = client_port;
  request_.received = std::chrono::steady_clock::now();
  switch (dns::decode_query(packet, request_)) {
    case dns::DecodeStatus::Drop:
      return {};
    case dns::DecodeStatus::FormErr:
      return writer_.error_response(request_, dns::Rcode::FormErr, request_.has_question);
    case dns::DecodeStatus::NotImp:
      return writer_.error_response(request_, dns::Rcode::NotImp, false);
    case dns::DecodeStatus::BadVers:
      return writer_.error_response(request_, dns::Rcode::BadVers, true);
    case dns::DecodeStatus::Ok:
      break;
  }
  writer_.begin(request_, request_.max_response_size(udp_size), udp_size);
  const uint16_t qtype = request_.question.type;
  if (qtype == dns::rrtype::AXFR || qtype == dns::rrtype::IXFR) {
    // stsd offers no zone transfers; answer like a server whose ACL denies them.
    writer_.start(dns::Rcode::Refused, false);
    return writer_.finish();
  }
  Query query{request_, writer_};
  chain.serve(query);
  return writer_.finish();
}

// A TCP client (RFC 7766): length-prefixed messages, several per connection. Reads take
// whatever the client has sent (a pipelining client sends many queries per segment); every
// complete message in the buffer is answered and the answers leave in one write, in
// order. The next read waits for that write, so a client that does not read its answers
// stops being read (and is closed by its timer) instead of making us buffer without end.
// An idle or stalled client is closed by its timer so it cannot hold resources beyond
// the idle timeout.
class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(Worker& worker, tcp::socket socket, size_t block)
      : worker_(worker), socket_(std::move(socket)), timer_(worker.io_), block_(block) {
    worker_.connections_.insert(this);
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) {
      client_ = remote.address();
      client_port_ = remote.port();
    }
    socket_.set_option(tcp::no_delay(true), ec);   // answers are small and must not wait
    in_.resize(kReadChunk);
  }
  ~TcpConnection() {
    worker_.connections_.erase(this);
    worker_.tcp_connections_.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() { read(); }

  // Shutdown: an idle connection closes now; a busy one after its answers are written.
  void stop() {
    if (idle_) close();
  }

  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

 private:
  static constexpr size_t kReadChunk = 16 * 1024;
  // Answers gathered from one read before they are written: bounds our buffering when a
  // client sends many large-answer queries at once (the rest waits in its buffer).
  static constexpr size_t kMaxPendingOutput = 256 * 1024;

  void arm_timer() {
    timer_.expires_after(worker_.settings_.tcp_idle_timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
  }

  void read() {
    if (worker_.stopping_ && filled_ == 0) return close();
    idle_ = filled_ == 0;
    arm_timer();
    if (in_.size() - filled_ < kReadChunk / 4) in_.resize(std::max(in_.size(), filled_ + kReadChunk));
    socket_.async_read_some(asio::buffer(in_.data() + filled_, in_.size() - filled_),
                            [self = shared_from_this()](auto ec, size_t n) {
                              if (ec) return self->close();
                              self->filled_ += n;
                              self->answer_buffered();
                            });
  }

  // Answers every complete message in the input buffer, then writes or reads on.
  void answer_buffered() {
    size_t at = 0;
    out_.clear();
    while (filled_ - at >= 2 && out_.size() < kMaxPendingOutput) {
      const size_t size = static_cast<size_t>(in_[at]) << 8 | in_[at + 1];
      if (size == 0) {   // not a DNS message: answer what came before it, then close
        close_after_write_ = true;
        filled_ = at;
        break;
      }
      if (filled_ - at - 2 < size) break;
      auto response = worker_.processor_.process({in_.data() + at + 2, size}, dns::Transport::Tcp, client_,
                                                 client_port_, worker_.chain(block_), worker_.settings_.udp_size);
      at += 2 + size;
      if (response.empty()) continue;  // a response or runt: nothing to say
      out_.push_back(static_cast<uint8_t>(response.size() >> 8));
      out_.push_back(static_cast<uint8_t>(response.size()));
      out_.insert(out_.end(), response.begin(), response.end());
    }
    // Keep the unfinished message at the front; make room for the whole of it.
    if (at > 0) {
      std::memmove(in_.data(), in_.data() + at, filled_ - at);
      filled_ -= at;
    }
    if (filled_ >= 2) {
      const size_t need = 2 + (static_cast<size_t>(in_[0]) << 8 | in_[1]);
      if (in_.size() < need) in_.resize(need);
    }
    if (out_.empty()) return close_after_write_ ? close() : read();
    idle_ = false;
    arm_timer();  // a client that does not read its answers is closed too
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](auto ec, size_t) {
      if (ec || self->close_after_write_) return self->close();
      // Messages may already wait in the buffer (more than one output batch).
      if (self->has_complete_message()) return self->answer_buffered();
      self->read();
    });
  }

  bool has_complete_message() const {
    return filled_ >= 2 && filled_ - 2 >= (static_cast<size_t>(in_[0]) << 8 | in_[1]);
  }

  Worker& worker_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  size_t block_;
  asio::ip::address client_;
  uint16_t client_port_ = 0;
  std::vector<uint8_t> in_;
  size_t filled_ = 0;
  std::vector<uint8_t> out_;
  bool idle_ = true;
  bool close_after_write_ = false;
};

// Buffers for one recvmmsg/sendmmsg round. One datagram costs one system call each way
// and an epoll wake-up when read one at a time; under load that is most of an answer's
// CPU time (bench/results), so a worker takes up to kSize datagrams per call (as Knot
// and NSD do).
struct Worker::UdpBatch {
  static constexpr size_t kSize = 32;
  // A UDP payload is at most 65,507 octets: the query buffers never truncate. The block
  // is allocated uninitialised, so only the pages that datagrams reach become resident.
  static constexpr size_t kQueryCapacity = 65536;
  // Our UDP answers are bounded by `udp_size` (at most 4096) or 512.
  static constexpr size_t kAnswerCapacity = 4096;
  // Room for one IP_PKTINFO or IPV6_PKTINFO control message.
  static constexpr size_t kControlCapacity = CMSG_SPACE(sizeof(in6_pktinfo));

  UdpBatch(bool wildcard, size_t blocks)
      : wildcard_address(wildcard),
        caches(blocks),
        queries(new uint8_t[kSize * kQueryCapacity]),
        answers(new uint8_t[kSize * kAnswerCapacity]) {
    std::memset(in, 0, sizeof in);
    std::memset(out, 0, sizeof out);
  }

  // Bound to 0.0.0.0 or ::, the kernel would pick the answer's source address by route,
  // which is not always the address the client asked (a host with several addresses):
  // read the query's destination (IP_PKTINFO) and answer from it, as clients check.
  bool wildcard_address;
  // The socket's thread answers with its own processor and chain views (neither is
  // shared with the worker's TCP thread).
  QueryProcessor processor;
  std::vector<ChainCache> caches;
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
      in6_pktinfo info;   // the interface stays: a link-local destination needs it
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      return write_control(out, IPPROTO_IPV6, IPV6_PKTINFO, info);
    }
  }
  return 0;
}

}  // namespace

Worker::UdpListener::UdpListener(int descriptor, size_t block_index, std::unique_ptr<UdpBatch> buffers)
    : fd(descriptor), block(block_index), batch(std::move(buffers)) {}

Worker::UdpListener::~UdpListener() {
  if (fd >= 0) ::close(fd);
}

Worker::Worker(std::vector<std::shared_ptr<ChainSlot>> slots, const ListenerSettings& settings,
               std::atomic<size_t>& tcp_connections)
    : slots_(std::move(slots)), caches_(slots_.size()), settings_(settings), tcp_connections_(tcp_connections) {}

Worker::~Worker() = default;

void Worker::bind(const std::vector<Endpoint>& endpoints) {
  for (const auto& e : endpoints) {
    const auto where = (e.address.address().is_v6() ? "[" + e.address.address().to_string() + "]"
                                                    : e.address.address().to_string()) +
                       ":" + std::to_string(e.address.port());
    try {
      udp::socket socket(io_, e.address.protocol());
      if (e.address.address().is_v6()) socket.set_option(asio::ip::v6_only(true));
      socket.set_option(reuse_port(true));
      boost::system::error_code ignored;
      socket.set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);
      socket.set_option(asio::socket_base::send_buffer_size(4 << 20), ignored);
      socket.bind(e.address);
      // The socket's thread blocks in recvmmsg; the timeout only bounds how long a stop
      // can go unnoticed should the wake-up on shutdown() be missed.
      socket.native_non_blocking(false);
      const timeval receive_timeout{1, 0};
      ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof receive_timeout);
      const bool wildcard = e.address.address().is_unspecified();
      if (wildcard) {
        const int on = 1;
        const bool v6 = e.address.address().is_v6();
        if (::setsockopt(socket.native_handle(), v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVPKTINFO : IP_PKTINFO,
                         &on, sizeof on) != 0)
          throw boost::system::system_error(errno, boost::system::system_category());
      }
      // Out of the reactor: release() deregisters the descriptor from epoll.
      udp_.emplace_back(socket.release(), e.block, std::make_unique<UdpBatch>(wildcard, slots_.size()));

      tcp::acceptor acceptor(io_);
      const tcp::endpoint tcp_endpoint(e.address.address(), e.address.port());
      acceptor.open(tcp_endpoint.protocol());
      if (tcp_endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true));
      acceptor.set_option(asio::socket_base::reuse_address(true));
      acceptor.set_option(reuse_port(true));
      acceptor.bind(tcp_endpoint);
      acceptor.listen(asio::socket_base::max_listen_connections);
      tcp_.push_back(TcpListener{std::move(acceptor), e.block});
    } catch (const boost::system::system_error& error) {
      throw std::runtime_error("cannot listen on " + where + ": " + error.code().message());
    }
  }
}

void Worker::run() {
  for (auto& l : udp_) udp_threads_.emplace_back([this, &l] { serve_udp(l); });
  for (auto& l : tcp_) accept(l);
  io_.run();
  for (auto& t : udp_threads_) t.join();
  udp_threads_.clear();
}

// UDP bypasses the event loop: each socket has a thread that blocks in recvmmsg until a
// datagram arrives, takes every datagram waiting (up to kSize, MSG_WAITFORONE) and
// sends the answers with one sendmmsg. Two system calls per burst, where a readiness
// wait through the reactor costs four (epoll_wait, an epoll_ctl re-arm, receive, send);
// on virtual machines each call and each sleep is dear (bench/results).
void Worker::serve_udp(UdpListener& listener) {
  UdpBatch& b = *listener.batch;
  const int fd = listener.fd;
  while (!udp_stopping_.load(std::memory_order_relaxed)) {
    for (size_t i = 0; i < UdpBatch::kSize; ++i) {
      b.in_iov[i] = {b.queries.get() + i * UdpBatch::kQueryCapacity, UdpBatch::kQueryCapacity};
      msghdr& h = b.in[i].msg_hdr;
      h.msg_name = &b.peers[i];
      h.msg_namelen = sizeof b.peers[i];
      h.msg_iov = &b.in_iov[i];
      h.msg_iovlen = 1;
      h.msg_control = b.wildcard_address ? b.in_control[i] : nullptr;
      h.msg_controllen = b.wildcard_address ? UdpBatch::kControlCapacity : 0;
      h.msg_flags = 0;
    }
    const int received = ::recvmmsg(fd, b.in, UdpBatch::kSize, MSG_WAITFORONE, nullptr);
    if (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      // An unexpected failure (e.g. ENOMEM) must not turn this loop into a busy spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (received <= 0) continue;   // timeout, EINTR, or shut down for stopping: look at the flag

    const Chain& served_by = b.caches[listener.block].get(*slots_[listener.block]);   // a reload applies here
    unsigned answers = 0;
    asio::ip::address client;
    uint16_t client_port = 0;
    for (int i = 0; i < received; ++i) {
      if (!endpoint_of(b.peers[i], client, client_port)) continue;
      const auto response = b.processor.process({b.queries.get() + i * UdpBatch::kQueryCapacity, b.in[i].msg_len},
                                                dns::Transport::Udp, client, client_port, served_by, settings_.udp_size);
      if (response.empty() || response.size() > UdpBatch::kAnswerCapacity) continue;
      uint8_t* slot = b.answers.get() + answers * UdpBatch::kAnswerCapacity;
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
    // A full send buffer drops the rest, as a lost datagram would be (the client retries).
    for (unsigned sent = 0; sent < answers;) {
      const int n = ::sendmmsg(fd, b.out + sent, answers - sent, MSG_DONTWAIT);
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
}

void Worker::accept(TcpListener& listener) {
  listener.acceptor.async_accept([this, &listener](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    if (!ec) {
      if (tcp_connections_.fetch_add(1, std::memory_order_relaxed) >= settings_.tcp_max_connections) {
        // Over the cap: refuse this client rather than let it starve the others.
        tcp_connections_.fetch_sub(1, std::memory_order_relaxed);
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<TcpConnection>(*this, std::move(socket), listener.block)->start();
      }
    }
    accept(listener);
  });
}

void Worker::stop() {
  // A UDP thread finishes the burst it holds; shutdown() wakes one blocked in recvmmsg.
  // Its socket is closed only after the thread is joined (closing a descriptor another
  // thread is using could hand the number to a new socket underneath it).
  udp_stopping_.store(true, std::memory_order_relaxed);
  for (auto& l : udp_) ::shutdown(l.fd, SHUT_RD);
  asio::post(io_, [this] {
    stopping_ = true;
    boost::system::error_code ignored;
    for (auto& l : tcp_) l.acceptor.close(ignored);
    // Copy: stop() may destroy connections, which erase themselves.
    std::vector<TcpConnection*> open(connections_.begin(), connections_.end());
    for (auto* c : open) c->stop();
  });
}

}  // namespace stsd
