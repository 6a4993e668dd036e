#include "server/listeners.h"

#include <sys/socket.h>

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

// A TCP client (RFC 7766): length-prefixed messages, several per connection, read one
// after another; an idle or stalled client is closed by its timer so it cannot hold
// resources beyond the idle timeout.
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
  }
  ~TcpConnection() {
    worker_.connections_.erase(this);
    worker_.tcp_connections_.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() { read_length(); }

  // Shutdown: an idle connection closes now; a busy one after its answer is written.
  void stop() {
    if (idle_) close();
  }

  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

 private:
  void arm_timer() {
    timer_.expires_after(worker_.settings_.tcp_idle_timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
  }

  void read_length() {
    if (worker_.stopping_) return close();
    idle_ = true;
    arm_timer();
    asio::async_read(socket_, asio::buffer(length_), [self = shared_from_this()](auto ec, size_t) {
      if (ec) return self->close();
      self->idle_ = false;
      const size_t size = static_cast<size_t>(self->length_[0]) << 8 | self->length_[1];
      if (size == 0) return self->close();
      self->query_.resize(size);
      self->read_body();
    });
  }

  void read_body() {
    asio::async_read(socket_, asio::buffer(query_), [self = shared_from_this()](auto ec, size_t) {
      if (ec) return self->close();
      self->answer();
    });
  }

  void answer() {
    auto response = worker_.processor_.process(query_, dns::Transport::Tcp, client_, client_port_,
                                               worker_.chain(block_), worker_.settings_.udp_size);
    if (response.empty()) return read_length();  // a response or runt: nothing to say
    reply_.resize(2 + response.size());
    reply_[0] = static_cast<uint8_t>(response.size() >> 8);
    reply_[1] = static_cast<uint8_t>(response.size());
    std::memcpy(reply_.data() + 2, response.data(), response.size());
    arm_timer();  // a client that does not read its answers is closed too
    asio::async_write(socket_, asio::buffer(reply_), [self = shared_from_this()](auto ec, size_t) {
      if (ec) return self->close();
      self->read_length();
    });
  }

  Worker& worker_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  size_t block_;
  asio::ip::address client_;
  uint16_t client_port_ = 0;
  uint8_t length_[2];
  std::vector<uint8_t> query_;
  std::vector<uint8_t> reply_;
  bool idle_ = true;
};

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
      udp_.push_back(UdpListener{std::move(socket), e.block, {}, std::vector<uint8_t>(65535)});

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
  for (auto& l : udp_) receive(l);
  for (auto& l : tcp_) accept(l);
  io_.run();
}

void Worker::receive(UdpListener& listener) {
  listener.socket.async_receive_from(
      asio::buffer(listener.in), listener.remote, [this, &listener](const boost::system::error_code& ec, size_t n) {
        if (ec == asio::error::operation_aborted || stopping_) return;
        if (!ec) {
          auto response = processor_.process({listener.in.data(), n}, dns::Transport::Udp, listener.remote.address(),
                                             listener.remote.port(), chain(listener.block), settings_.udp_size);
          if (!response.empty()) {
            boost::system::error_code send_error;
            listener.socket.send_to(asio::buffer(response.data(), response.size()), listener.remote, 0, send_error);
          }
        }
        receive(listener);
      });
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
  asio::post(io_, [this] {
    stopping_ = true;
    boost::system::error_code ignored;
    for (auto& l : udp_) l.socket.close(ignored);
    for (auto& l : tcp_) l.acceptor.close(ignored);
    // Copy: stop() may destroy connections, which erase themselves.
    std::vector<TcpConnection*> open(connections_.begin(), connections_.end());
    for (auto* c : open) c->stop();
  });
}

}  // namespace stsd
