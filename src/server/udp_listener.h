#pragma once
// UDP: one socket per listen address and worker (SO_REUSEPORT), each read by a thread of
// its own that blocks in recvmmsg and answers a whole burst with one sendmmsg, outside
// the event loop (udp_listener.cpp says why).
#include <atomic>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "server/listener_settings.h"
#include "server/runtime.h"

namespace stsd {

class UdpListener {
 public:
  // Opens and binds the socket (`io` only lends asio's socket set-up; the socket leaves
  // the event loop at once). Throws boost::system::system_error.
  UdpListener(boost::asio::io_context& io, const boost::asio::ip::udp::endpoint& address,
              std::shared_ptr<const ChainSlot> slot, const ListenerSettings& settings);
  ~UdpListener();
  UdpListener(const UdpListener&) = delete;
  UdpListener& operator=(const UdpListener&) = delete;

  // The loop of the socket's own thread; returns once `stopping` is set and the current
  // burst is answered (wake() ends a wait for the next one).
  void serve(const std::atomic<bool>& stopping);
  // Wakes the thread blocked in serve(). The descriptor stays open until destruction:
  // closing one another thread still uses could hand its number to a new socket.
  void wake();

 private:
  struct Batch;

  int receive(Batch& batch);
  unsigned answer(Batch& batch, int received);
  void send(Batch& batch, unsigned answers);

  int fd_ = -1;
  std::shared_ptr<const ChainSlot> slot_;
  ListenerSettings settings_;
  std::unique_ptr<Batch> batch_;
};

}  // namespace stsd
