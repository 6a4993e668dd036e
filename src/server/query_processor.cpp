#include "server/query_processor.h"

#include <algorithm>
#include <chrono>

#include "dns/edns.h"

namespace stsd {

QueryProcessor::QueryProcessor() : buffer_(dns::ResponseWriter::kMaxMessage), writer_(buffer_) {}

void QueryProcessor::add_exchange_options(const Chain& chain, const ListenerSettings& settings) {
  if (!request_.edns.present) return;
  // RFC 5001 §2.3: the identity, only to a client that asked for it.
  if (request_.edns.nsid_requested && !chain.nsid().empty()) writer_.add_option(dns::edns_option::NSID, chain.nsid());
  // RFC 7828 §3.3.2: over TCP, to a client that sent the option, the idle timeout in
  // units of 100 ms; never over UDP (§3.3.1).
  if (request_.edns.keepalive_requested && request_.transport == dns::Transport::Tcp) {
    const auto tenths = std::min<int64_t>(settings.tcp_idle_timeout.count() * 10, 0xffff);
    const uint8_t timeout[2] = {static_cast<uint8_t>(tenths >> 8), static_cast<uint8_t>(tenths)};
    writer_.add_option(dns::edns_option::TCP_KEEPALIVE, timeout);
  }
}

std::span<const uint8_t> QueryProcessor::process(std::span<const uint8_t> packet, dns::Transport transport,
                                                 const boost::asio::ip::address& client, uint16_t client_port,
                                                 const Chain& chain, const ListenerSettings& settings,
                                                 std::unique_ptr<ResponseStream>* more) {
  const uint16_t udp_size = settings.udp_size;
  request_.transport = transport;
  request_.client = client;
  request_.client_port = client_port;
  request_.received = std::chrono::steady_clock::now();
  switch (dns::decode_query(packet, request_)) {
    case dns::DecodeStatus::Drop:
      return {};
    case dns::DecodeStatus::FormErr:
      return writer_.error_response(request_, dns::Rcode::FormErr, request_.has_question);
    case dns::DecodeStatus::NotImp:
      return writer_.error_response(request_, dns::Rcode::NotImp, false);
    case dns::DecodeStatus::BadVers:
      return writer_.error_response(request_, dns::Rcode::BadVers, true);
    case dns::DecodeStatus::Ok:
      break;
  }
  writer_.begin(request_, request_.max_response_size(udp_size), udp_size);
  add_exchange_options(chain, settings);
  // Zone transfers (AXFR, IXFR) go through the chain like any query: a plugin that
  // serves them answers; when none does, finish() answers REFUSED, as a server whose
  // ACL denies the transfer.
  Query query{request_, writer_, more};
  chain.serve(query);
  return writer_.finish();  // empty when a plugin dropped the answer
}

}  // namespace stsd
