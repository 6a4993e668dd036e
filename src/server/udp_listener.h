#pragma once
// UDP: one socket per listen address and worker (SO_REUSEPORT), each read by a thread of
// its own outside the event loop (udp_listener.cpp says why). The thread uses io_uring
// where the kernel allows it (udp_uring.h: one kernel crossing per burst), else blocks in
// recvmmsg and answers a whole burst with one sendmmsg.
#include <atomic>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "server/listener_settings.h"
#include "server/runtime.h"
#include "server/udp_answerer.h"
#include "server/udp_uring.h"

namespace stsd {

class UdpListener {
 public:
  // Opens and binds the socket (`io` only lends asio's socket set-up; the socket leaves
  // the event loop at once) and picks the loop `settings.udp_io` asks for. Throws
  // boost::system::system_error, or std::runtime_error when io_uring is required and
  // cannot be used.
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
  bool uses_io_uring() const { return uring_ != nullptr; }

 private:
  struct Batch;

  void choose_loop(bool wildcard);
  void serve_recvmmsg(const std::atomic<bool>& stopping);
  int receive(Batch& batch);
  unsigned answer(Batch& batch, int received);
  void send(Batch& batch, unsigned answers);

  int fd_ = -1;
  ListenerSettings settings_;
  UdpAnswerer answerer_;
  std::unique_ptr<UdpUring> uring_;
  std::unique_ptr<Batch> batch_;  // the recvmmsg loop's buffers, when it is the one used
};

}  // namespace stsd
