#include "test_support.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "dns/name.h"
#include "dns/writer.h"

namespace stsd::test {
namespace {
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

// Notes that the plugin before it passed the query on; answers nothing.
class Sentinel final : public Plugin {
 public:
  explicit Sentinel(bool& passed) : passed_(passed) {}
  std::string_view name() const override { return "sentinel"; }
  void serve(Query& , Next ) const override { passed_ = true; }

 private:
  bool& passed_;
};

std::string rr_string(const ldns_rr* rr) {
  char* text = ldns_rr2str(rr);
  std::string out = text ? text : "";
  free(text);
  std::replace(out.begin(), out.end(), '\t', ' ');
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::vector<std::string> section(const ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) out.push_back(rr_string(ldns_rr_list_rr(list, i)));
  return out;
}
}  // namespace

std::vector<uint8_t> make_query_packet(const QuerySpec& spec) {
  std::vector<uint8_t> out;
  put16(out, 0x1234);
  put16(out, dns::flag::RD);
  put16(out, 1);
  put16(out, 0);
  put16(out, 0);
  put16(out, spec.edns_size ? 1 : 0);
  auto name = dns::Name::from_text(spec.qname);
  EXPECT_TRUE(name) << spec.qname;
  if (name) out.insert(out.end(), name->wire().begin(), name->wire().end());
  put16(out, spec.qtype);
  put16(out, spec.qclass);
  if (spec.edns_size) {
    out.push_back(0);  // root owner
    put16(out, dns::rrtype::OPT);
    put16(out, *spec.edns_size);
    put16(out, 0);
    put16(out, 0);
    put16(out, 0);
  }
  return out;
}

ConfigNode yaml_node(const std::string& text, const std::filesystem::path& file, const std::string& key_path) {
  return ConfigNode(YAML::Load(text), std::make_shared<const std::filesystem::path>(file), key_path);
}

ChainRunner::ChainRunner(std::unique_ptr<Plugin> plugin) {
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::move(plugin));
  plugins.push_back(std::make_unique<Sentinel>(*passed_));
  chain_ = std::make_unique<Chain>(std::move(plugins));
}

Reply ChainRunner::run(const QuerySpec& spec) {
  const auto packet = make_query_packet(spec);
  dns::Request request;
  const auto status = dns::decode_query(packet, request);
  EXPECT_EQ(status, dns::DecodeStatus::Ok);
  request.transport = spec.transport;
  request.client = boost::asio::ip::make_address("127.0.0.1");
  request.client_port = 40000;
  request.received = std::chrono::steady_clock::now();

  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  writer.begin(request, request.max_response_size());
  *passed_ = false;
  Query query{request, writer};
  chain_->serve(query);
  const auto wire = writer.finish();

  Reply reply;
  reply.passed_on = *passed_;
  reply.size = wire.size();
  ldns_pkt* raw = nullptr;
  const ldns_status parsed = ldns_wire2pkt(&raw, wire.data(), wire.size());
  EXPECT_EQ(parsed, LDNS_STATUS_OK) << "reply does not parse: " << ldns_get_errorstr_by_id(parsed);
  std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)> pkt(raw, &ldns_pkt_free);
  if (!pkt) return reply;
  char* rcode = ldns_pkt_rcode2str(ldns_pkt_get_rcode(pkt.get()));
  reply.rcode = rcode ? rcode : "?";
  free(rcode);
  std::string flags;
  auto flag = [&](bool on, const char* name) {
    if (!on) return;
    if (!flags.empty()) flags += ' ';
    flags += name;
  };
  flag(ldns_pkt_qr(pkt.get()), "qr");
  flag(ldns_pkt_aa(pkt.get()), "aa");
  flag(ldns_pkt_tc(pkt.get()), "tc");
  flag(ldns_pkt_rd(pkt.get()), "rd");
  flag(ldns_pkt_ra(pkt.get()), "ra");
  reply.flags = flags;
  reply.answer = section(ldns_pkt_answer(pkt.get()));
  reply.authority = section(ldns_pkt_authority(pkt.get()));
  reply.additional = section(ldns_pkt_additional(pkt.get()));
  return reply;
}

}  // namespace stsd::test
