#include "plugin_test_support.h"

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>

#include <yaml-cpp/yaml.h>

#include "dns/name.h"
#include "dns/writer.h"

namespace stsd::test {
namespace {

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

using CText = std::unique_ptr<char, decltype(&free)>;

std::string rr_text(const ldns_rr* rr) {
  CText text(ldns_rr2str(rr), &free);
  std::string out = text ? text.get() : "";
  std::replace(out.begin(), out.end(), '\t', ' ');
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::vector<std::string> section(const ldns_rr_list* list, std::string& soa_serial) {
  std::vector<std::string> out;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && soa_serial.empty() && ldns_rr_rd_count(rr) > 2) {
      CText serial(ldns_rdf2str(ldns_rr_rdf(rr, 2)), &free);
      soa_serial = serial ? serial.get() : "";
    }
    out.push_back(rr_text(rr));
  }
  return out;
}

// RFC 6891 §6.1.2: OPT's RDATA is a sequence of {code, length, data}.
std::vector<EdnsOption> edns_options(const ldns_rdf* rdata) {
  std::vector<EdnsOption> out;
  if (!rdata) return out;
  const uint8_t* data = ldns_rdf_data(rdata);
  const size_t size = ldns_rdf_size(rdata);
  size_t at = 0;
  while (at + 4 <= size) {
    const uint16_t code = static_cast<uint16_t>(data[at] << 8 | data[at + 1]);
    const size_t length = static_cast<size_t>(data[at + 2] << 8 | data[at + 3]);
    at += 4;
    EXPECT_LE(at + length, size) << "an EDNS option runs past the end of OPT";
    if (at + length > size) break;
    out.push_back({code, std::vector<uint8_t>(data + at, data + at + length)});
    at += length;
  }
  return out;
}

}  // namespace

const EdnsOption* Reply::option(uint16_t code) const {
  for (const auto& option : options)
    if (option.code == code) return &option;
  return nullptr;
}

std::vector<uint8_t> query_packet(const QuerySpec& spec) {
  std::vector<uint8_t> out;
  put16(out, kQueryId);
  put16(out, dns::flag::RD);
  put16(out, 1);  // QDCOUNT
  const bool ixfr = spec.qtype == dns::rrtype::IXFR;
  put16(out, 0);
  put16(out, ixfr ? 1 : 0);  // NSCOUNT: an IXFR carries the client's SOA (RFC 1995 §3)
  put16(out, spec.edns_size ? 1 : 0);
  const auto name = dns::Name::from_text(spec.qname);
  EXPECT_TRUE(name) << spec.qname;
  if (name) out.insert(out.end(), name->wire().begin(), name->wire().end());
  put16(out, spec.qtype);
  put16(out, spec.qclass);
  if (ixfr) {  // owner: the question name (pointer to offset 12); MNAME and RNAME the root
    put16(out, 0xc00c);
    put16(out, dns::rrtype::SOA);
    put16(out, dns::rrclass::IN);
    put16(out, 0);
    put16(out, 0);
    put16(out, 22);
    out.push_back(0);
    out.push_back(0);
    put16(out, static_cast<uint16_t>(spec.ixfr_serial >> 16));
    put16(out, static_cast<uint16_t>(spec.ixfr_serial));
    for (int i = 0; i < 8; ++i) put16(out, 0);  // refresh, retry, expire, minimum
  }
  if (spec.edns_size) {  // RFC 6891 §6.1.2: root owner, OPT, payload size, no flags
    out.push_back(0);
    put16(out, dns::rrtype::OPT);
    put16(out, *spec.edns_size);
    put16(out, 0);
    put16(out, 0);
    put16(out, 0);
  }
  return out;
}

Reply decode_reply(std::span<const uint8_t> wire) {
  Reply reply;
  reply.size = wire.size();
  ldns_pkt* raw = nullptr;
  const ldns_status parsed = ldns_wire2pkt(&raw, wire.data(), wire.size());
  EXPECT_EQ(parsed, LDNS_STATUS_OK) << "the reply does not decode: " << ldns_get_errorstr_by_id(parsed);
  std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)> pkt(raw, &ldns_pkt_free);
  if (!pkt) return reply;
  CText rcode(ldns_pkt_rcode2str(ldns_pkt_get_rcode(pkt.get())), &free);
  reply.rcode = rcode ? rcode.get() : "?";
  auto flag = [&](bool on, const char* name) {
    if (!on) return;
    if (!reply.flags.empty()) reply.flags += ' ';
    reply.flags += name;
  };
  flag(ldns_pkt_qr(pkt.get()), "qr");
  flag(ldns_pkt_aa(pkt.get()), "aa");
  flag(ldns_pkt_tc(pkt.get()), "tc");
  flag(ldns_pkt_rd(pkt.get()), "rd");
  flag(ldns_pkt_ra(pkt.get()), "ra");
  reply.aa = ldns_pkt_aa(pkt.get());
  reply.tc = ldns_pkt_tc(pkt.get());
  reply.answer = section(ldns_pkt_answer(pkt.get()), reply.soa_serial);
  reply.authority = section(ldns_pkt_authority(pkt.get()), reply.soa_serial);
  reply.additional = section(ldns_pkt_additional(pkt.get()), reply.soa_serial);
  reply.edns = ldns_pkt_edns(pkt.get());
  reply.options = edns_options(ldns_pkt_edns_data(pkt.get()));
  return reply;
}

ChainRunner::ChainRunner(std::unique_ptr<Plugin> plugin) {
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::move(plugin));
  plugins.push_back(std::make_unique<Sentinel>(*reached_));
  chain_ = std::make_unique<Chain>(std::move(plugins));
}

ChainRunner::ChainRunner(std::vector<std::unique_ptr<Plugin>> plugins) {
  plugins.push_back(std::make_unique<Sentinel>(*reached_));
  chain_ = std::make_unique<Chain>(std::move(plugins));
}

Reply ChainRunner::run(const QuerySpec& spec) {
  const auto packet = query_packet(spec);
  dns::Request request;
  EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok) << spec.qname;
  request.transport = spec.transport;
  request.client = boost::asio::ip::make_address(spec.client);
  request.client_port = spec.client_port;
  request.received = std::chrono::steady_clock::now() - spec.age;

  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  writer.begin(request, request.max_response_size());
  *reached_ = false;
  Query query{request, writer};
  chain_->serve(query);
  const auto wire = writer.finish();
  if (writer.dropped()) {
    EXPECT_TRUE(wire.empty()) << "a dropped answer is not sent";
    Reply reply;
    reply.dropped = true;
    reply.passed_on = *reached_;
    return reply;
  }

  Reply reply = decode_reply(wire);
  reply.passed_on = *reached_;
  EXPECT_GE(wire.size(), dns::kHeaderSize);
  if (wire.size() >= 2) {
    EXPECT_EQ(wire[0] << 8 | wire[1], kQueryId) << "the reply carries the query's ID";
  }
  return reply;
}

Reply ask(Plugin& plugin, const QuerySpec& spec) {
  ChainRunner runner(std::make_unique<Borrowed>(plugin));
  return runner.run(spec);
}

ConfigNode yaml_node(const std::string& text, const std::string& key_path, const std::filesystem::path& file) {
  return ConfigNode(YAML::Load(text), std::make_shared<const std::filesystem::path>(file), key_path);
}

}  // namespace stsd::test
