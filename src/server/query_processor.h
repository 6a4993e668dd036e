#pragma once
// Query processing, shared by UDP and TCP (Knot's split: the transports only move bytes):
// decode the packet, run the chain, finish the answer. No socket and no lock here.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "dns/message.h"
#include "dns/writer.h"
#include "plugin.h"
#include "server/listener_settings.h"

namespace stsd {

// Decodes a packet, runs the chain and returns the response (empty: send nothing).
// One per thread that answers: it owns the response buffer and the decoded request, so
// answering allocates nothing. Over TCP, `more` receives the rest of a multi-message
// answer when a plugin leaves one (plugin.h, ResponseStream); over UDP it is null.
class QueryProcessor {
 public:
  QueryProcessor();
  std::span<const uint8_t> process(std::span<const uint8_t> packet, dns::Transport transport,
                                   const boost::asio::ip::address& client, uint16_t client_port, const Chain& chain,
                                   const ListenerSettings& settings, std::unique_ptr<ResponseStream>* more = nullptr);
  // The request last processed (valid until the next call; its `packet` only as long as
  // the bytes given to process()).
  const dns::Request& request() const { return request_; }

 private:
  // NSID and TCP keepalive: the core's answers to EDNS options about the exchange.
  void add_exchange_options(const Chain& chain, const ListenerSettings& settings);

  std::vector<uint8_t> buffer_;
  dns::Request request_;
  dns::ResponseWriter writer_;
};

}  // namespace stsd
