#include "server/tcp_listener.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "net/accept_back_off.h"
#include "net/address.h"
#include "throttled_log.h"

namespace stsd {
namespace asio = boost::asio;
using asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

namespace {
// Both are events a client can repeat at will: one log each for the whole process.
log::ThrottledLog& accept_failures_log() {
  static log::ThrottledLog throttled;
  return throttled;
}
log::ThrottledLog& evictions_log() {
  static log::ThrottledLog throttled;
  return throttled;
}
log::ThrottledLog& stream_failures_log() {
  static log::ThrottledLog throttled;
  return throttled;
}
}  // namespace

// A TCP client (RFC 7766): length-prefixed messages, several per connection. Reads take
// whatever the client has sent (a pipelining client sends many queries per segment); every
// complete message in the buffer is answered and the answers leave in one write, in
// order. The next read waits for that write, so a client that does not read its answers
// stops being read instead of making us buffer without end.
// The connection always waits for its client in one of three ways, each with its own
// deadline (tcp_listener.h); the sweep closes it when the deadline passes.
// A multi-message answer (a zone transfer, plugin.h ResponseStream) is written in
// batches: each batch is produced once the previous one is taken, and the queries
// pipelined behind it wait (unread) until it is complete.
class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  using Clock = std::chrono::steady_clock;

  TcpConnection(TcpListeners& listeners, tcp::socket socket, size_t block)
      : listeners_(listeners), socket_(std::move(socket)), block_(block) {
    listeners_.opened(this);
    boost::system::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) {
      client_ = remote.address();
      client_port_ = remote.port();
    }
    socket_.set_option(tcp::no_delay(true), ec);  // answers are small and must not wait
    in_.resize(kReadChunk);
  }
  ~TcpConnection() { leave_listeners(); }

  void start() {
    expect(Wait::NextMessage);
    read();
  }

  // Shutdown: an idle connection closes now; a busy one after its answers are written.
  void stop() {
    if (waiting_for_ == Wait::NextMessage) close();
  }

  // Idempotent; the connection stops counting against the cap at once.
  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    leave_listeners();
  }

  Clock::time_point deadline() const { return deadline_; }
  Clock::time_point waiting_since() const { return waiting_since_; }
  std::string client_text() const { return net::endpoint_text(client_, client_port_); }

 private:
  static constexpr size_t kReadChunk = 16 * 1024;
  // Answers gathered from one read before they are written: bounds our buffering when a
  // client sends many large-answer queries at once (the rest waits in its buffer).
  static constexpr size_t kMaxPendingOutput = 256 * 1024;

  enum class Wait {
    NextMessage,    // its first byte: tcp_idle_timeout
    RestOfMessage,  // the rest, once the first byte is in: tcp_io_timeout
    AnswersTaken,   // the client reading our answers: tcp_io_timeout
  };

  // Starts a wait and its deadline. Called when the wait changes, never for a byte that
  // only continues a message, so dribbling bytes moves no deadline.
  void expect(Wait what) {
    waiting_for_ = what;
    waiting_since_ = Clock::now();
    const auto& settings = listeners_.settings_;
    deadline_ = waiting_since_ + (what == Wait::NextMessage ? settings.tcp_idle_timeout : settings.tcp_io_timeout);
  }

  void leave_listeners() {
    if (!registered_) return;
    registered_ = false;
    listeners_.closed(this);
  }

  void read() {
    if (listeners_.stopping_ && filled_ == 0) return close();
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
    const bool continuing_message = waiting_for_ == Wait::RestOfMessage;
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
      auto response = listeners_.processor_.process({in_.data() + at + 2, size}, dns::Transport::Tcp, client_,
                                                    client_port_, listeners_.chain(block_),
                                                    listeners_.settings_, &more_);
      at += 2 + size;
      append_output(response);  // nothing for a response or a runt
      if (more_) {
        begin_stream();
        break;
      }
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
    if (!out_.empty()) return write_answers();
    if (close_after_write_) return close();
    // More bytes of the message already waited for keep its deadline.
    if (at > 0 || !continuing_message) expect_next_input();
    read();
  }

  void append_output(std::span<const uint8_t> message) {
    if (message.empty()) return;
    out_.push_back(static_cast<uint8_t>(message.size() >> 8));
    out_.push_back(static_cast<uint8_t>(message.size()));
    out_.insert(out_.end(), message.begin(), message.end());
  }

  void write_answers() {
    expect(Wait::AnswersTaken);  // a client that does not read its answers is closed too
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](auto ec, size_t) {
      if (ec || self->close_after_write_) return self->close();
      if (self->streaming_) return self->continue_stream();
      self->answers_written();
    });
  }

  void answers_written() {
    // Messages may already wait in the buffer (more than one output batch).
    if (has_complete_message()) return answer_buffered();
    expect_next_input();
    read();
  }

  // The processor's request is overwritten by the next query: the stream's messages are
  // begun from a copy (without the packet, which the input buffer reuses).
  void begin_stream() {
    streaming_ = std::make_unique<Streaming>(listeners_.processor_.request(), std::move(more_));
  }

  // Writes the next batch of the multi-message answer, or goes back to the queries once
  // it is complete.
  void continue_stream() {
    if (listeners_.stopping_) return close();  // shutdown: the client retries the transfer
    out_.clear();
    auto& s = *streaming_;
    while (out_.size() < kMaxPendingOutput) {
      s.writer.begin(s.request, s.request.max_response_size(), listeners_.settings_.udp_size);
      bool wrote = false;
      try {
        wrote = s.stream->next(s.writer);
      } catch (const std::exception& e) {
        stream_failures_log().report("dns tcp " + client_text() + ": a multi-message answer to " +
                                     s.request.question.name.to_text() + " failed: " + e.what() +
                                     "; closing the connection");
        return close();
      }
      if (!wrote) {
        streaming_.reset();
        break;
      }
      append_output(s.writer.finish());
    }
    if (!out_.empty()) return write_answers();
    answers_written();
  }

  void expect_next_input() { expect(filled_ == 0 ? Wait::NextMessage : Wait::RestOfMessage); }

  bool has_complete_message() const {
    return filled_ >= 2 && filled_ - 2 >= (static_cast<size_t>(in_[0]) << 8 | in_[1]);
  }

  TcpListeners& listeners_;
  tcp::socket socket_;
  size_t block_;
  asio::ip::address client_;
  uint16_t client_port_ = 0;
  std::vector<uint8_t> in_;
  size_t filled_ = 0;
  std::vector<uint8_t> out_;
  struct Streaming {
    Streaming(const dns::Request& begun_for, std::unique_ptr<ResponseStream> rest)
        : request(begun_for), buffer(dns::ResponseWriter::kMaxMessage), writer(buffer), stream(std::move(rest)) {
      request.packet = {};  // the input buffer is reused: nothing may point into it
      request.tsig_offset = 0;
    }
    dns::Request request;
    std::vector<uint8_t> buffer;
    dns::ResponseWriter writer;
    std::unique_ptr<ResponseStream> stream;
  };
  std::unique_ptr<ResponseStream> more_;     // set by the chain for a multi-message answer
  std::unique_ptr<Streaming> streaming_;     // while one is being written
  Wait waiting_for_ = Wait::NextMessage;
  Clock::time_point waiting_since_;
  Clock::time_point deadline_;
  bool close_after_write_ = false;
  bool closed_ = false;
  bool registered_ = true;
};

TcpListeners::TcpListeners(asio::io_context& io, std::vector<std::shared_ptr<ChainSlot>> slots,
                           const ListenerSettings& settings, std::atomic<size_t>& open_connections)
    : io_(io),
      slots_(std::move(slots)),
      caches_(slots_.size()),
      settings_(settings),
      open_connections_(open_connections),
      sweep_timer_(io) {}

// Connections still queued on the event loop (a forced stop) outlive the listeners: they
// are closed and let go here, so that their destructors do not reach back.
TcpListeners::~TcpListeners() {
  std::vector<TcpConnection*> open(connections_.begin(), connections_.end());
  for (auto* c : open) c->close();
}

void TcpListeners::bind(const tcp::endpoint& address, size_t block) {
  tcp::acceptor acceptor(io_);
  acceptor.open(address.protocol());
  if (address.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true));
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.set_option(reuse_port(true));
  acceptor.bind(address);
  acceptor.listen(asio::socket_base::max_listen_connections);
  acceptors_.push_back(Acceptor{std::move(acceptor), block, asio::steady_timer(io_),
                                net::endpoint_text(address.address(), address.port())});
}

void TcpListeners::start() {
  for (auto& a : acceptors_) accept(a);
}

void TcpListeners::accept(Acceptor& listener) {
  listener.acceptor.async_accept([this, &listener](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    if (ec) return accept_failed(listener, ec);
    admit(std::move(socket), listener.block);
    accept(listener);
  });
}

void TcpListeners::accept_failed(Acceptor& listener, const boost::system::error_code& error) {
  if (net::accept_error_is_transient(error)) return accept(listener);
  std::string text = "dns tcp " + listener.name + ": accept failed: " + error.message();
  if (net::accept_error_is_out_of_descriptors(error)) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    text += " (open-file limit " + std::to_string(limit.rlim_cur) + ", " +
            std::to_string(open_connections_.load(std::memory_order_relaxed)) + " DNS TCP connections open)";
  }
  text += "; backing off " + std::to_string(net::kAcceptBackOff.count()) + " ms before accepting again";
  accept_failures_log().report(text);
  listener.retry.expires_after(net::kAcceptBackOff);
  listener.retry.async_wait([this, &listener](const boost::system::error_code& ec) {
    if (!ec && !stopping_) accept(listener);
  });
}

void TcpListeners::admit(tcp::socket socket, size_t block) {
  const bool over_cap = open_connections_.fetch_add(1, std::memory_order_relaxed) >= settings_.tcp_max_connections;
  if (over_cap && !evict_longest_waiting()) {
    // Every connection is another worker's: refuse this client rather than exceed the cap.
    open_connections_.fetch_sub(1, std::memory_order_relaxed);
    boost::system::error_code ignored;
    socket.close(ignored);
    return;
  }
  std::make_shared<TcpConnection>(*this, std::move(socket), block)->start();
}

bool TcpListeners::evict_longest_waiting() {
  TcpConnection* longest = nullptr;
  for (auto* c : connections_)
    if (!longest || c->waiting_since() < longest->waiting_since()) longest = c;
  if (!longest) return false;
  const std::chrono::duration<double> waited = std::chrono::steady_clock::now() - longest->waiting_since();
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", waited.count());
  evictions_log().report("dns tcp: at tcp.max_connections (" + std::to_string(settings_.tcp_max_connections) +
                         "): closed the connection from " + longest->client_text() + ", which waited " + seconds +
                         " s for its client, to take a new one");
  longest->close();
  return true;
}

void TcpListeners::opened(TcpConnection* connection) {
  connections_.insert(connection);
  if (!sweeping_) {
    sweeping_ = true;
    schedule_sweep();
  }
}

void TcpListeners::closed(TcpConnection* connection) {
  connections_.erase(connection);
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
}

void TcpListeners::schedule_sweep() {
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) sweep_expired();
  });
}

// Runs while the worker has connections; stops with the last one (opened() restarts it).
void TcpListeners::sweep_expired() {
  const auto now = std::chrono::steady_clock::now();
  expired_.clear();
  for (auto* c : connections_)
    if (c->deadline() <= now) expired_.push_back(c);
  for (auto* c : expired_) c->close();
  if (connections_.empty()) {
    sweeping_ = false;
    return;
  }
  schedule_sweep();
}

void TcpListeners::stop() {
  stopping_ = true;
  boost::system::error_code ignored;
  for (auto& a : acceptors_) {
    a.acceptor.close(ignored);
    a.retry.cancel();
  }
  // Copy: stop() closes connections, which leave the set.
  std::vector<TcpConnection*> open(connections_.begin(), connections_.end());
  for (auto* c : open) c->stop();
}

}  // namespace stsd
