#pragma once
// What the listeners take from the core settings (runtime.h's CoreSettings).
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "dns/message.h"

namespace stsd {

struct ListenerSettings {
  uint16_t udp_size = dns::kDefaultEdnsBuffer;
  std::chrono::seconds tcp_idle_timeout{10};
  size_t tcp_max_connections = 1024;
};

}  // namespace stsd
