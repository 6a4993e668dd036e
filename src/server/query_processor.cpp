#include "server/query_processor.h"

#include <chrono>

namespace stsd {

QueryProcessor::QueryProcessor() : buffer_(dns::ResponseWriter::kMaxMessage), writer_(buffer_) {}

std::span<const uint8_t> QueryProcessor::process(std::span<const uint8_t> packet, dns::Transport transport,
                                                 const boost::asio::ip::address& client, uint16_t client_port,
                                                 const Chain& chain, uint16_t udp_size) {
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
  const uint16_t qtype = request_.question.type;
  if (qtype == dns::rrtype::AXFR || qtype == dns::rrtype::IXFR) {
    // stsd offers no zone transfers; answer like a server whose ACL denies them.
    writer_.start(dns::Rcode::Refused, false);
    return writer_.finish();
  }
  Query query{request_, writer_};
  chain.serve(query);
  return writer_.finish();
}

}  // namespace stsd
