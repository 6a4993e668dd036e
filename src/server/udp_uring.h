#pragma once
// The io_uring loop of a UDP socket's thread. One multishot recvmsg keeps receiving into
// a ring of buffers the kernel picks from, answers leave as sendmsg requests on the same
// ring, and one io_uring_enter per burst both submits the burst's answers and waits for
// the next queries: one kernel crossing per burst where recvmmsg + sendmmsg take two
// (bench/results/2026-11-30-udp-experiments.md has the figures).
#include <atomic>
#include <memory>
#include <string>

#include "server/udp_answerer.h"

namespace stsd {

class UdpUring {
 public:
  // Sets up the ring for the bound socket `fd` (disabled until serve() enables it on the
  // socket's own thread, the only one that may submit). Returns nullptr, with the reason
  // in `why_not`, when this kernel or its settings do not allow it (io_uring_disabled,
  // Linux before 6.1, memory limits): the caller then uses recvmmsg.
  static std::unique_ptr<UdpUring> open(int fd, bool wildcard_address, const ListenerSettings& settings,
                                        std::string& why_not);
  ~UdpUring();
  UdpUring(const UdpUring&) = delete;
  UdpUring& operator=(const UdpUring&) = delete;

  // The loop; returns once `stopping` is set and the current burst is answered.
  void serve(UdpAnswerer& answerer, const std::atomic<bool>& stopping);
  // Ends a wait in serve() (from any thread).
  void wake();

 private:
  struct State;
  explicit UdpUring(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace stsd
