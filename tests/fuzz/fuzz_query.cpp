// libFuzzer target for the query path's parsers of untrusted bytes: the decoder, and
// the writer answering whatever the decoder accepted (question echo, compression
// against hostile names, EDNS, truncation at the client's size).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dns/message.h"
#include "dns/rdata.h"
#include "dns/tsig.h"
#include "dns/writer.h"
#include "plugin.h"

namespace {
using namespace stsd;

// Answers every question with records that exercise compression and truncation.
class EchoPlugin final : public Plugin {
 public:
  std::string_view name() const override { return "echo"; }
  void serve(Query& q, Next next) const override {
    const auto& question = q.request.question;
    if (question.type == dns::rrtype::PTR) return next(q);  // leave some to REFUSED
    q.response.start(dns::Rcode::NoError, true);
    auto target = question.name;
    target.prepend_label("target");
    const auto ns = dns::name_rdata(target);
    const auto txt = dns::txt_rdata(std::string(question.type % 600, 'x'));
    for (int i = 0; i < 3; ++i) {
      q.response.add(dns::Section::Answer, {question.original, dns::rrtype::CNAME, dns::rrclass::IN, 1, ns});
      q.response.add(dns::Section::Answer, {target, dns::rrtype::TXT, dns::rrclass::IN, 1, txt});
    }
    dns::Soa soa{question.name, target, 1, 2, 3, 4, 5};
    dns::add_negative_soa(q.response, question.name, 10, dns::soa_rdata(soa));
    q.response.add(dns::Section::Additional, {target, dns::rrtype::NS, dns::rrclass::IN, 1, ns}, question.type & 1);
  }
};

const Chain& chain() {
  static const Chain instance = [] {
    std::vector<std::unique_ptr<Plugin>> plugins;
    plugins.push_back(std::make_unique<EchoPlugin>());
    return Chain(std::move(plugins));
  }();
  return instance;
}
}  // namespace

const std::vector<dns::tsig::Key>& keys() {
  static const std::vector<dns::tsig::Key> instance = {
      {*dns::Name::from_text("key."), dns::tsig::Algorithm::HmacSha256, {1, 2, 3, 4}}};
  return instance;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  // The client side of TSIG reads whole responses (NOTIFY answers): the input as one.
  dns::tsig::verify_response({data, size}, keys()[0], dns::tsig::SignedRequest{}, 1);
  dns::ResponseWriter writer(buffer);
  dns::Request request;
  request.transport = size % 2 ? dns::Transport::Tcp : dns::Transport::Udp;
  switch (dns::decode_query({data, size}, request)) {
    case dns::DecodeStatus::Drop:
      return 0;
    case dns::DecodeStatus::FormErr:
      writer.error_response(request, dns::Rcode::FormErr, request.has_question);
      return 0;
    case dns::DecodeStatus::NotImp:
      writer.error_response(request, dns::Rcode::NotImp, false);
      return 0;
    case dns::DecodeStatus::BadVers:
      writer.error_response(request, dns::Rcode::BadVers, true);
      return 0;
    case dns::DecodeStatus::Ok:
      break;
  }
  writer.begin(request, request.max_response_size(1232), 1232);
  if (request.tsig_offset != 0) {
    // The server side of TSIG: the record the decoder located, and the error answer.
    const auto check = dns::tsig::verify_request(request, keys(), 1);
    if (check.error != dns::tsig::Error::None) {
      dns::tsig::write_error_response(writer, check, 1);
      if (writer.size() > request.max_response_size(1232)) __builtin_trap();
      return 0;
    }
  }
  Query query{request, writer};
  chain().serve(query);
  auto out = writer.finish();
  // What we wrote must decode as a message with our ID and QR set.
  if (out.size() < dns::kHeaderSize || out[0] != data[0] || out[1] != data[1] || !(out[2] & 0x80)) __builtin_trap();
  if (request.transport == dns::Transport::Udp && out.size() > request.max_response_size(1232)) __builtin_trap();
  return 0;
}
