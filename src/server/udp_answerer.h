#pragma once
// What both UDP loops (udp_listener.cpp's recvmmsg loop and udp_uring.cpp's io_uring
// loop) do with one datagram: answer it with the socket thread's own processor and chain
// view, and say from which address the answer must leave.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "server/listener_settings.h"
#include "server/query_processor.h"
#include "server/runtime.h"

namespace stsd {

// Our UDP answers are bounded by `udp_size` (at most 4096) or 512.
inline constexpr size_t kUdpAnswerCapacity = 4096;
// Room for one IP_PKTINFO or IPV6_PKTINFO control message.
inline constexpr size_t kUdpControlCapacity = CMSG_SPACE(sizeof(in6_pktinfo));

class UdpAnswerer {
 public:
  UdpAnswerer(std::shared_ptr<const ChainSlot> slot, const ListenerSettings& settings)
      : slot_(std::move(slot)), settings_(settings) {}

  // The chain for the burst about to be answered: a reload applies between bursts, so a
  // burst costs one look at the slot's generation, not one per datagram.
  const Chain& chain_for_burst() { return chain_.get(*slot_); }

  // The answer to `query` from `peer` (empty: send nothing, e.g. dropped or larger than
  // kUdpAnswerCapacity); valid until the next call.
  std::span<const uint8_t> answer(const Chain& chain, std::span<const uint8_t> query, const sockaddr& peer);

 private:
  QueryProcessor processor_;
  ChainCache chain_;
  std::shared_ptr<const ChainSlot> slot_;
  const ListenerSettings& settings_;
};

// Bound to 0.0.0.0 or ::, the kernel would pick the answer's source address by route,
// which is not always the address the client asked (a host with several addresses):
// turns the query's destination (IP_PKTINFO / IPV6_PKTINFO received in `query`'s control
// data) into the control message to send the answer with, written to `out`
// (kUdpControlCapacity octets). Returns its length (0: none found, the kernel chooses).
size_t answer_source(const msghdr& query, uint8_t* out);

}  // namespace stsd
