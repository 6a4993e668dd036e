#pragma once
// Serves one query carrying a COOKIE option through [cookies, responder] the way a worker
// does, and reads back what the cookie tests look at: the full rcode (BADCOOKIE's upper
// bits sit in OPT), the answer count, the COOKIE option, and what the chain saw.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "dns/edns.h"
#include "dns/message.h"
#include "dns/writer.h"
#include "plugin.h"
#include "plugin_test_support.h"

namespace stsd::cookies::test {

// Answers every query it reaches with one A record, noting that it was reached and
// whether the address was proven by then.
class Responder final : public Plugin {
 public:
  std::string_view name() const override { return "responder"; }
  void serve(Query& query, Next) const override {
    reached = true;
    proven = query.address_proven;
    query.response.start(dns::Rcode::NoError, true);
    static const uint8_t address[4] = {192, 0, 2, 7};
    query.response.add(dns::Section::Answer, {query.request.question.name, dns::rrtype::A, dns::rrclass::IN, 60, address});
  }
  mutable bool reached = false;
  mutable bool proven = false;
};

struct Exchange {
  uint16_t rcode = 0;  // the full 12 bits
  uint16_t answers = 0;
  bool has_opt = false;
  std::optional<std::vector<uint8_t>> cookie;  // the answer's COOKIE option
  bool passed_on = false;
  bool proven = false;  // Query::address_proven after the chain
  size_t size = 0;
};

// The query packet of test::query_packet with EDNS and, unless `option` is nullopt, a
// COOKIE option holding it.
inline std::vector<uint8_t> cookie_query(const std::optional<std::vector<uint8_t>>& option) {
  auto packet = stsd::test::query_packet({.qname = "www.example.", .edns_size = 1232});
  if (!option) return packet;
  // OPT is last and has no options yet: its RDLENGTH is the packet's last two octets.
  const size_t rdata = 4 + option->size();
  packet[packet.size() - 2] = static_cast<uint8_t>(rdata >> 8);
  packet[packet.size() - 1] = static_cast<uint8_t>(rdata);
  packet.push_back(0);
  packet.push_back(dns::edns_option::COOKIE);
  packet.push_back(static_cast<uint8_t>(option->size() >> 8));
  packet.push_back(static_cast<uint8_t>(option->size()));
  packet.insert(packet.end(), option->begin(), option->end());
  return packet;
}

// Reads the records after the question, keeping what OPT says (RFC 6891 §6.1.2).
inline void read_records(std::span<const uint8_t> wire, Exchange& out) {
  auto u16 = [&](size_t at) { return static_cast<uint16_t>(wire[at] << 8 | wire[at + 1]); };
  auto skip_name = [&](size_t at) {
    while (at < wire.size()) {
      const uint8_t length = wire[at];
      if (length == 0) return at + 1;
      if ((length & 0xc0) == 0xc0) return at + 2;
      at += 1 + length;
    }
    ADD_FAILURE() << "a name runs past the message";
    return wire.size();
  };
  size_t at = dns::kHeaderSize;
  for (uint16_t i = 0; i < u16(4); ++i) at = skip_name(at) + 4;
  const size_t records = size_t{u16(6)} + u16(8) + u16(10);
  for (size_t i = 0; i < records && at < wire.size(); ++i) {
    at = skip_name(at);
    const uint16_t type = u16(at), rdlength = u16(at + 8);
    if (type == dns::rrtype::OPT) {
      out.has_opt = true;
      out.rcode = static_cast<uint16_t>(out.rcode | wire[at + 4] << 4);
      for (size_t o = at + 10; o + 4 <= at + 10 + rdlength;) {
        const uint16_t code = u16(o), length = u16(o + 2);
        if (code == dns::edns_option::COOKIE) out.cookie.emplace(wire.begin() + o + 4, wire.begin() + o + 4 + length);
        o += 4 + length;
      }
    }
    at += 10 + rdlength;
  }
  EXPECT_EQ(at, wire.size()) << "the message has octets after its records";
}

inline Exchange ask(Plugin& cookies, const std::optional<std::vector<uint8_t>>& option,
                         const std::string& client = "192.0.2.1", dns::Transport transport = dns::Transport::Udp) {
  Responder responder;
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<stsd::test::Borrowed>(cookies));
  plugins.push_back(std::make_unique<stsd::test::Borrowed>(responder));
  const Chain chain(std::move(plugins));

  const auto packet = cookie_query(option);
  dns::Request request;
  EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
  request.transport = transport;
  request.client = boost::asio::ip::make_address(client);
  request.received = std::chrono::steady_clock::now();
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  writer.begin(request, request.max_response_size());
  Query query{request, writer};
  chain.serve(query);
  const auto wire = writer.finish();

  Exchange out;
  out.size = wire.size();
  out.passed_on = responder.reached;
  out.proven = query.address_proven;
  EXPECT_GE(wire.size(), dns::kHeaderSize);
  if (wire.size() < dns::kHeaderSize) return out;
  out.rcode = wire[3] & 0x0f;
  out.answers = static_cast<uint16_t>(wire[6] << 8 | wire[7]);
  read_records(wire, out);
  stsd::test::decode_reply(wire);  // ldns must read it too
  return out;
}

}  // namespace stsd::cookies::test
