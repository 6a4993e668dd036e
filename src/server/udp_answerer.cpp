#include "server/udp_answerer.h"

#include <cstring>

#include <boost/asio/ip/address.hpp>

namespace stsd {
namespace {

bool endpoint_of(const sockaddr& peer, boost::asio::ip::address& address, uint16_t& port) {
  if (peer.sa_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    address = boost::asio::ip::address_v4(ntohl(v4.sin_addr.s_addr));
    port = ntohs(v4.sin_port);
    return true;
  }
  if (peer.sa_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
    boost::asio::ip::address_v6::bytes_type bytes;
    std::memcpy(bytes.data(), v6.sin6_addr.s6_addr, bytes.size());
    address = boost::asio::ip::address_v6(bytes, v6.sin6_scope_id);
    port = ntohs(v6.sin6_port);
    return true;
  }
  return false;
}

template <class Info>
size_t write_control(uint8_t* out, int level, int type, const Info& info) {
  auto* message = reinterpret_cast<cmsghdr*>(out);
  message->cmsg_level = level;
  message->cmsg_type = type;
  message->cmsg_len = CMSG_LEN(sizeof info);
  std::memcpy(CMSG_DATA(message), &info, sizeof info);
  return CMSG_SPACE(sizeof info);
}

}  // namespace

std::span<const uint8_t> UdpAnswerer::answer(const Chain& chain, std::span<const uint8_t> query,
                                             const sockaddr& peer) {
  boost::asio::ip::address client;
  uint16_t client_port = 0;
  if (!endpoint_of(peer, client, client_port)) return {};
  const auto response = processor_.process(query, dns::Transport::Udp, client, client_port, chain, settings_);
  if (response.size() > kUdpAnswerCapacity) return {};
  return response;
}

size_t answer_source(const msghdr& query, uint8_t* out) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&query); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&query), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      // From the address asked, through whichever interface routes to the client.
      info.ipi_spec_dst = info.ipi_addr;
      info.ipi_ifindex = 0;
      return write_control(out, IPPROTO_IP, IP_PKTINFO, info);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;  // the interface stays: a link-local destination needs it
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      return write_control(out, IPPROTO_IPV6, IPV6_PKTINFO, info);
    }
  }
  return 0;
}

}  // namespace stsd
