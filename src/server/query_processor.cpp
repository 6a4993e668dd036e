#include "server/query_processor.h"

#include <chrono>

namespace stsd {

QueryProcessor::QueryProcessor() : buffer_(dns::ResponseWriter::kMaxMessage), writer_(buffer_) {}

std::span<const uint8_t> QueryProcessor::process(std::span<const uint8_t> packet, dns::Transport transport,
                                                 const boost::asio::ip::address& client, uint16_t client_port,
                                                 const Chain& chain, uint16_t udp_size,
                                                 std::unique_ptr<ResponseStream>* more) {
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
  // Zone transfers (AXFR, IXFR) go through the chain like any query: a plugin that
  // serves them answers; when none does, finish() answers REFUSED, as a server whose
  // ACL denies the transfer.
  Query query{request_, writer_, more};
  chain.serve(query);
  return writer_.finish();
}

}  // namespace stsd
