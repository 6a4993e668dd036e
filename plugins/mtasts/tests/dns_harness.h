#pragma once
// Drives a plugin with real query packets (built by ldns, decoded by the core's decoder)
// and decodes the response with ldns_wire2pkt, so tests read like DNS.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include "dns/message.h"
#include "dns/types.h"
#include "dns/writer.h"
#include "plugin.h"

namespace stsd::mtasts::test_support {

// Marks that the chain reached past the plugin under test.
class PassedPlugin final : public Plugin {
 public:
  explicit PassedPlugin(bool& passed) : passed_(passed) {}
  std::string_view name() const override { return "passed"; }
  void serve(Query& , Next ) const override { passed_ = true; }

 private:
  bool& passed_;
};

struct Reply {
  bool passed = false;            // the plugin called next
  std::string rcode;              // "NOERROR", "NXDOMAIN", ...
  bool aa = false;
  bool tc = false;
  std::vector<std::string> answer, authority, additional;   // "owner TTL TYPE rdata"
  std::string soa_serial;         // of the first SOA anywhere (answer or authority)
};

inline std::string rr_text(const ldns_rr* rr) {
  std::unique_ptr<char, decltype(&free)> owner(ldns_rdf2str(ldns_rr_owner(rr)), &free);
  std::unique_ptr<char, decltype(&free)> type(ldns_rr_type2str(ldns_rr_get_type(rr)), &free);
  std::string out = std::string(owner.get()) + " " + std::to_string(ldns_rr_ttl(rr)) + " " + type.get();
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    std::unique_ptr<char, decltype(&free)> rd(ldns_rdf2str(ldns_rr_rdf(rr, i)), &free);
    out += " " + std::string(rd.get());
  }
  return out;
}

inline std::vector<std::string> section_text(const ldns_rr_list* list, std::string& soa_serial) {
  std::vector<std::string> out;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && soa_serial.empty()) {
      std::unique_ptr<char, decltype(&free)> serial(ldns_rdf2str(ldns_rr_rdf(rr, 2)), &free);
      soa_serial = serial.get();
    }
    out.push_back(rr_text(rr));
  }
  return out;
}

inline Reply ask(Plugin& plugin, const std::string& qname, uint16_t qtype, uint16_t qclass = dns::rrclass::IN,
                 dns::Transport transport = dns::Transport::Udp) {
  Reply reply;
  // The query, as a resolver would send it (EDNS 1232).
  std::unique_ptr<ldns_rdf, decltype(&ldns_rdf_deep_free)> name(ldns_dname_new_frm_str(qname.c_str()), &ldns_rdf_deep_free);
  EXPECT_TRUE(name) << qname;
  if (!name) return reply;
  std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)> query(
      ldns_pkt_query_new(ldns_rdf_clone(name.get()), static_cast<ldns_rr_type>(qtype), static_cast<ldns_rr_class>(qclass), 0),
      &ldns_pkt_free);
  ldns_pkt_set_id(query.get(), 4242);
  ldns_pkt_set_edns_udp_size(query.get(), 1232);
  uint8_t* wire = nullptr;
  size_t wire_size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, query.get(), &wire_size), LDNS_STATUS_OK);
  std::unique_ptr<uint8_t, decltype(&free)> wire_owner(wire, &free);

  dns::Request request;
  EXPECT_EQ(dns::decode_query({wire, wire_size}, request), dns::DecodeStatus::Ok) << qname;
  request.transport = transport;
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  writer.begin(request, request.max_response_size());
  std::vector<std::unique_ptr<Plugin>> plugins;
  struct Borrowed final : Plugin {
    explicit Borrowed(Plugin& p) : inner(p) {}
    std::string_view name() const override { return inner.name(); }
    void serve(Query& q, Next next) const override { inner.serve(q, next); }
    Plugin& inner;
  };
  plugins.push_back(std::make_unique<Borrowed>(plugin));
  plugins.push_back(std::make_unique<PassedPlugin>(reply.passed));
  Chain chain(std::move(plugins));
  Query q{request, writer};
  chain.serve(q);
  const auto message = writer.finish();

  ldns_pkt* raw = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&raw, message.data(), message.size()), LDNS_STATUS_OK) << "response does not decode";
  std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)> response(raw, &ldns_pkt_free);
  if (!response) return reply;
  EXPECT_EQ(ldns_pkt_id(response.get()), 4242);
  EXPECT_TRUE(ldns_pkt_qr(response.get()));
  std::unique_ptr<char, decltype(&free)> rcode(ldns_pkt_rcode2str(ldns_pkt_get_rcode(response.get())), &free);
  reply.rcode = rcode.get();
  reply.aa = ldns_pkt_aa(response.get());
  reply.tc = ldns_pkt_tc(response.get());
  reply.answer = section_text(ldns_pkt_answer(response.get()), reply.soa_serial);
  reply.authority = section_text(ldns_pkt_authority(response.get()), reply.soa_serial);
  reply.additional = section_text(ldns_pkt_additional(response.get()), reply.soa_serial);
  return reply;
}

}  // namespace stsd::mtasts::test_support
