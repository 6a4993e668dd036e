#pragma once
// TCP (RFC 7766): one worker's acceptors (SO_REUSEPORT, one per listen address) and its
// connections, all on the worker's event loop. Connections read pipelined queries and
// write each read's answers in one batch (tcp_listener.cpp).
#include <atomic>
#include <cstddef>
#include <list>
#include <memory>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/listener_settings.h"
#include "server/query_processor.h"
#include "server/runtime.h"

namespace stsd {

class TcpConnection;

class TcpListeners {
 public:
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
  };

  void accept(Acceptor& acceptor);
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
  bool stopping_ = false;
};

}  // namespace stsd
