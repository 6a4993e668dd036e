#include "server/tcp_listener.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace stsd {
namespace asio = boost::asio;
using asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// A TCP client (RFC 7766): length-prefixed messages, several per connection. Reads take
// whatever the client has sent (a pipelining client sends many queries per segment); every
// complete message in the buffer is answered and the answers leave in one write, in
// order. The next read waits for that write, so a client that does not read its answers
// stops being read (and is closed by its timer) instead of making us buffer without end.
// An idle or stalled client is closed by its timer so it cannot hold resources beyond
// the idle timeout.
class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(TcpListeners& listeners, tcp::socket socket, size_t block)
      : listeners_(listeners), socket_(std::move(socket)), timer_(listeners.io_), block_(block) {
    listeners_.connections_.insert(this);
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) {
      client_ = remote.address();
      client_port_ = remote.port();
    }
    socket_.set_option(tcp::no_delay(true), ec);  // answers are small and must not wait
    in_.resize(kReadChunk);
  }
  ~TcpConnection() {
    listeners_.connections_.erase(this);
    listeners_.open_connections_.fetch_sub(1, std::memory_order_relaxed);
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
    timer_.expires_after(listeners_.settings_.tcp_idle_timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
  }

  void read() {
    if (listeners_.stopping_ && filled_ == 0) return close();
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
      if (size == 0) {  // not a DNS message: answer what came before it, then close
        close_after_write_ = true;
        filled_ = at;
        break;
      }
      if (filled_ - at - 2 < size) break;
      auto response =
          listeners_.processor_.process({in_.data() + at + 2, size}, dns::Transport::Tcp, client_, client_port_,
                                        listeners_.chain(block_), listeners_.settings_.udp_size);
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

  TcpListeners& listeners_;
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

TcpListeners::TcpListeners(asio::io_context& io, std::vector<std::shared_ptr<ChainSlot>> slots,
                           const ListenerSettings& settings, std::atomic<size_t>& open_connections)
    : io_(io),
      slots_(std::move(slots)),
      caches_(slots_.size()),
      settings_(settings),
      open_connections_(open_connections) {}

TcpListeners::~TcpListeners() = default;

void TcpListeners::bind(const tcp::endpoint& address, size_t block) {
  tcp::acceptor acceptor(io_);
  acceptor.open(address.protocol());
  if (address.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true));
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.set_option(reuse_port(true));
  acceptor.bind(address);
  acceptor.listen(asio::socket_base::max_listen_connections);
  acceptors_.push_back(Acceptor{std::move(acceptor), block});
}

void TcpListeners::start() {
  for (auto& a : acceptors_) accept(a);
}

void TcpListeners::accept(Acceptor& listener) {
  listener.acceptor.async_accept([this, &listener](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    if (!ec) {
      if (open_connections_.fetch_add(1, std::memory_order_relaxed) >= settings_.tcp_max_connections) {
        // Over the cap: refuse this client rather than let it starve the others.
        open_connections_.fetch_sub(1, std::memory_order_relaxed);
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<TcpConnection>(*this, std::move(socket), listener.block)->start();
      }
    }
    accept(listener);
  });
}

void TcpListeners::stop() {
  stopping_ = true;
  boost::system::error_code ignored;
  for (auto& a : acceptors_) a.acceptor.close(ignored);
  // Copy: stop() may destroy connections, which erase themselves.
  std::vector<TcpConnection*> open(connections_.begin(), connections_.end());
  for (auto* c : open) c->stop();
}

}  // namespace stsd
