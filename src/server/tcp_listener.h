#pragma once
// TCP (RFC 7766): one worker's acceptors (SO_REUSEPORT, one per listen address) and its
// connections, all on the worker's event loop. Connections read pipelined queries and
// write each read's answers in one batch (tcp_listener.cpp).
//
// What a client may hold (RFC 7766 §6.2.3 and §10):
//   - each connection has one deadline at a time, set when it starts waiting for its
//     client and never moved by a byte: tcp_idle_timeout for the first byte of the next
//     message, tcp_io_timeout for the rest of a message once its first byte is in, and
//     tcp_io_timeout for the client to take our answers. A sweep every kSweepInterval
//     closes the connections past their deadline, so a client dribbling bytes is closed
//     like a silent one;
//   - at tcp_max_connections (over all workers), a new client is not refused while this
//     worker has a connection to give up: the one that has waited longest for its client
//     is closed instead, so fresh clients get served while the idle or slow ones hold
//     every slot;
//   - an accept that fails for want of descriptors or buffers pauses that listener
//     (net/accept_back_off.h) with a rate-limited warning, instead of retrying at once
//     on a listen socket that stays readable.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "server/listener_settings.h"
#include "server/query_processor.h"
#include "server/runtime.h"

namespace stsd {

class TcpConnection;

class TcpListeners {
 public:
  // How often deadlines are checked: a connection is closed at most this long after its
  // deadline.
  static constexpr std::chrono::milliseconds kSweepInterval{250};

  // `open_connections` counts the connections of every worker, against
  // settings.tcp_max_connections.
  TcpListeners(boost::asio::io_context& io, std::vector<std::shared_ptr<ChainSlot>> slots,
               const ListenerSettings& settings, std::atomic<size_t>& open_connections);
  ~TcpListeners();

  // Opens an acceptor for chain `block`. Throws boost::system::system_error.
  void bind(const boost::asio::ip::tcp::endpoint& address, size_t block);
  // Accepts on every bound address; runs on the event loop.
  void start();
  // On the event loop's thread: stops accepting; an idle connection closes now, a busy
  // one after its answers are written.
  void stop();

 private:
  friend class TcpConnection;
  struct Acceptor {
    boost::asio::ip::tcp::acceptor acceptor;
    size_t block;
    boost::asio::steady_timer retry;  // the pause after a failed accept
    std::string name;                 // "127.0.0.1:5300", for the log
  };

  void accept(Acceptor& acceptor);
  void accept_failed(Acceptor& acceptor, const boost::system::error_code& error);
  void admit(boost::asio::ip::tcp::socket socket, size_t block);
  // At the cap: closes the connection that has waited longest for its client. False when
  // this worker has none.
  bool evict_longest_waiting();
  void sweep_expired();
  void schedule_sweep();
  void opened(TcpConnection* connection);
  void closed(TcpConnection* connection);
  const Chain& chain(size_t block) { return caches_[block].get(*slots_[block]); }

  boost::asio::io_context& io_;
  std::vector<std::shared_ptr<ChainSlot>> slots_;
  std::vector<ChainCache> caches_;
  ListenerSettings settings_;
  std::atomic<size_t>& open_connections_;
  // Every connection of the worker answers with this one: they share its thread.
  QueryProcessor processor_;
  std::list<Acceptor> acceptors_;
  std::unordered_set<TcpConnection*> connections_;
  boost::asio::steady_timer sweep_timer_;
  bool sweeping_ = false;
  std::vector<TcpConnection*> expired_;  // reused by every sweep
  bool stopping_ = false;
};

}  // namespace stsd
