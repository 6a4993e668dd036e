#pragma once
// What the listeners take from the core settings (runtime.h's CoreSettings).
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "dns/message.h"

namespace stsd {

// tcp.max_connections when the config does not set it (before the open-file limit may
// lower it: descriptor_budget.h).
inline constexpr size_t kDefaultTcpMaxConnections = 1024;

// How a UDP socket's thread moves datagrams (docs/configuration.md, `udp.io`): Auto is
// io_uring where the kernel allows it, else recvmmsg/sendmmsg.
enum class UdpIo { Auto, IoUring, Recvmmsg };

// udp.burst_datagrams / udp.burst_wait_us when the config does not set them: the best
// of the settings measured in bench/results/2026-11-30-udp-experiments.md.
inline constexpr unsigned kDefaultUdpBurstDatagrams = 32;
inline constexpr std::chrono::microseconds kDefaultUdpBurstWait{200};

struct ListenerSettings {
  uint16_t udp_size = dns::kDefaultEdnsBuffer;
  UdpIo udp_io = UdpIo::Auto;
  // io_uring only: wait until this many datagrams are in, or udp_burst_wait has passed
  // since the wait began, before answering (1 or 0 µs: answer each arrival at once).
  unsigned udp_burst_datagrams = 1;
  std::chrono::microseconds udp_burst_wait{0};
  // RFC 7766 §6.2.3 and §10: a connection waits at most tcp_idle_timeout for the first
  // byte of its next message; once that byte is in, the whole message must arrive within
  // tcp_io_timeout, and the client must take our answers within tcp_io_timeout too.
  // Neither deadline moves when a byte arrives, so a client dribbling bytes is closed.
  std::chrono::seconds tcp_idle_timeout{10};
  std::chrono::seconds tcp_io_timeout{2};
  size_t tcp_max_connections = kDefaultTcpMaxConnections;
};

}  // namespace stsd
