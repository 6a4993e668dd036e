#pragma once
// The network side: one Worker per worker thread, each with its own SO_REUSEPORT UDP
// socket and TCP acceptor per listen address, so workers share no socket and take no
// lock on the query path. The parts, split as Knot splits them:
//   udp_listener.h     UDP: each socket read by a thread of its own (recvmmsg/sendmmsg)
//   tcp_listener.h     TCP: the accept loop and pipelined connections, on the event loop
//   query_processor.h  decode -> chain -> answer, shared by both
#include <atomic>
#include <list>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "server/listener_settings.h"
#include "server/query_processor.h"
#include "server/runtime.h"
#include "server/tcp_listener.h"
#include "server/udp_listener.h"

namespace stsd {

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
  boost::asio::io_context io_{1};
  std::vector<std::shared_ptr<ChainSlot>> slots_;
  ListenerSettings settings_;
  std::list<UdpListener> udp_;
  std::vector<std::thread> udp_threads_;
  std::atomic<bool> udp_stopping_{false};
  TcpListeners tcp_;
};

}  // namespace stsd
