#include "rrl_test_support.h"

#include <gtest/gtest.h>

#include "dns/name.h"

namespace stsd::rrl_test {

void Answerer::serve(Query& query, Next next) const {
  const dns::Request& request = query.request;
  const std::string_view label = request.question.name.first_label();
  dns::ResponseWriter& response = query.response;
  static const uint8_t kAddress[4] = {192, 0, 2, 80};
  static const auto kChild = *dns::Name::from_text("sub.example.");
  static const auto kChildServer = *dns::Name::from_text("ns1.sub.example.");
  if (label == "www" || label == "proven") {
    response.start(dns::Rcode::NoError, true);
    response.add(dns::Section::Answer,
                 {request.question.name, dns::rrtype::A, dns::rrclass::IN, 300, kAddress});
    if (label == "proven") query.address_proven = true;
  } else if (label == "nodata") {
    response.start(dns::Rcode::NoError, true);
  } else if (label.starts_with("nx")) {
    response.start(dns::Rcode::NXDomain, true);
  } else if (label == "sub") {
    response.start(dns::Rcode::NoError, false);
    const auto server = kChildServer.wire();
    response.add(dns::Section::Authority, {kChild, dns::rrtype::NS, dns::rrclass::IN, 300, server});
  } else if (label == "fail") {
    response.start(dns::Rcode::ServFail, false);
  } else if (label == "drop") {
    response.start(dns::Rcode::NXDomain, true);
    response.drop();
  } else {
    next(query);
  }
}

Runner::Runner(Plugin& plugin) : buffer_(dns::ResponseWriter::kMaxMessage), writer_(buffer_) {
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<test::Borrowed>(plugin));
  plugins.push_back(std::make_unique<Answerer>());
  chain_ = std::make_unique<Chain>(std::move(plugins));
}

Outcome Runner::run(const test::QuerySpec& spec, std::chrono::steady_clock::time_point at) {
  const auto packet = test::query_packet(spec);
  dns::Request request;
  EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok) << spec.qname;
  request.transport = spec.transport;
  request.client = boost::asio::ip::make_address(spec.client);
  request.client_port = spec.client_port;
  request.received = at;
  writer_.begin(request, request.max_response_size());
  Query query{request, writer_};
  chain_->serve(query);
  const auto wire = writer_.finish();
  Outcome outcome;
  if (wire.empty()) return outcome;
  EXPECT_GE(wire.size(), dns::kHeaderSize);
  outcome.sent = true;
  const uint16_t flags = static_cast<uint16_t>(wire[2] << 8 | wire[3]);
  outcome.truncated = flags & dns::flag::TC;
  outcome.rcode = static_cast<dns::Rcode>(flags & 0x000f);
  outcome.answers = static_cast<uint16_t>(wire[6] << 8 | wire[7]);
  outcome.authority = static_cast<uint16_t>(wire[8] << 8 | wire[9]);
  return outcome;
}

std::chrono::steady_clock::time_point second_start(int64_t second) {
  return std::chrono::steady_clock::time_point(std::chrono::seconds(second) + std::chrono::milliseconds(100));
}

}  // namespace stsd::rrl_test
