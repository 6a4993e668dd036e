#pragma once
// The network side: one Worker per worker thread, each with its own SO_REUSEPORT UDP
// socket and TCP acceptor per listen address, so workers share no socket and take no
// lock on the query path. TCP runs on the worker's io_context; each UDP socket is read
// by a thread of its own, outside the event loop (listeners.cpp says why).
#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "dns/message.h"
#include "dns/writer.h"
#include "server/runtime.h"

namespace stsd {

struct ListenerSettings {
  uint16_t udp_size = dns::kDefaultEdnsBuffer;
  std::chrono::seconds tcp_idle_timeout{10};
  size_t tcp_max_connections = 1024;
};

// Decodes a packet, runs the chain and returns the response (empty: send nothing).
// One per worker: it owns the response buffer and the decoded request.
class QueryProcessor {
 public:
  QueryProcessor();
  std::span<const uint8_t> process(std::span<const uint8_t> packet, dns::Transport transport,
                                   const boost::asio::ip::address& client, uint16_t client_port, const Chain& chain,
                                   uint16_t udp_size);

 private:
  std::vector<uint8_t> buffer_;
  dns::Request request_;
  dns::ResponseWriter writer_;
};

class TcpConnection;

class Worker {
 public:
  struct Endpoint {
    boost::asio::ip::udp::endpoint address;
    size_t block;  // index into the chain slots
  };

  Worker(std::vector<std::shared_ptr<ChainSlot>> slots, const ListenerSettings& settings,
         std::atomic<size_t>& tcp_connections);
  ~Worker();

  // Opens the sockets; throws std::runtime_error naming the address on failure.
  void bind(const std::vector<Endpoint>& endpoints);
  void run();
  // Stops accepting and receiving; in-flight answers finish, then run() returns.
  void stop();
  void force_stop() { io_.stop(); }

 private:
  friend class TcpConnection;
  struct UdpBatch;
  // A UDP socket outside the event loop (its thread reads it; the reactor must not
  // wake on its datagrams).
  struct UdpListener {
    UdpListener(int descriptor, size_t block, std::unique_ptr<UdpBatch> batch);
    ~UdpListener();
    UdpListener(const UdpListener&) = delete;
    UdpListener& operator=(const UdpListener&) = delete;
    int fd;
    size_t block;
    std::unique_ptr<UdpBatch> batch;
  };
  struct TcpListener {
    boost::asio::ip::tcp::acceptor acceptor;
    size_t block;
  };

  // The loop of one UDP socket's own thread (see listeners.cpp).
  void serve_udp(UdpListener& listener);
  void accept(TcpListener& listener);
  const Chain& chain(size_t block) { return caches_[block].get(*slots_[block]); }

  boost::asio::io_context io_{1};
  std::vector<std::shared_ptr<ChainSlot>> slots_;
  std::vector<ChainCache> caches_;
  ListenerSettings settings_;
  std::atomic<size_t>& tcp_connections_;
  QueryProcessor processor_;
  std::list<UdpListener> udp_;
  std::vector<std::thread> udp_threads_;
  std::atomic<bool> udp_stopping_{false};
  std::list<TcpListener> tcp_;
  std::unordered_set<TcpConnection*> connections_;
  bool stopping_ = false;
};

}  // namespace stsd
