#include "minimal_plugin.h"

#include "packets.h"

namespace stsd::bench {

MinimalMtaStsPlugin::MinimalMtaStsPlugin(size_t count, uint32_t ttl) : ttl_(ttl) {
  zones_.reserve(count);
  dns::Soa soa;
  soa.mname = *dns::Name::from_text("ns1.provider.test.");
  soa.rname = *dns::Name::from_text("hostmaster.provider.test.");
  soa.minimum = ttl;
  const auto soa_rdata = dns::soa_rdata(soa);
  for (size_t i = 0; i < count; ++i) {
    auto apex = *dns::Name::from_text("_mta-sts." + bench_domain(i) + ".");
    std::string key(reinterpret_cast<const char*>(apex.data()), apex.size());
    // RFC 8461 §3.1: exactly one string "v=STSv1; id=<id>;".
    auto txt = dns::txt_rdata("v=STSv1; id=20250101v1d" + std::to_string(100000000000 + i) + ";");
    zones_.emplace(std::move(key), Entry{apex, std::move(txt), soa_rdata});
  }
}

const MinimalMtaStsPlugin::Entry* MinimalMtaStsPlugin::find(std::span<const uint8_t> wire) const {
  auto it = zones_.find(std::string_view(reinterpret_cast<const char*>(wire.data()), wire.size()));
  return it == zones_.end() ? nullptr : &it->second;
}

void MinimalMtaStsPlugin::serve(Query& query, Next next) const {
  const auto& question = query.request.question;
  std::span<const uint8_t> wire = question.name.wire();  // lowercase, uncompressed
  // Walk up the labels until a zone apex is found (the qname or one of its ancestors).
  for (size_t offset = 0; offset < wire.size() && wire[offset] != 0; offset += wire[offset] + 1) {
    const Entry* zone = find(wire.subspan(offset));
    if (zone == nullptr) continue;
    const bool at_apex = offset == 0;
    if (at_apex && question.type == dns::rrtype::TXT) {
      query.response.start(dns::Rcode::NoError, true);
      query.response.add(dns::Section::Answer,
                         dns::RecordRef{question.original, dns::rrtype::TXT, dns::rrclass::IN, ttl_, zone->txt_rdata});
      return;
    }
    // NODATA at the apex for other types, NXDOMAIN below it (RFC 2308 §2.1, §2.2).
    query.response.start(at_apex ? dns::Rcode::NoError : dns::Rcode::NXDomain, true);
    dns::add_negative_soa(query.response, zone->apex, ttl_, zone->soa_rdata);
    return;
  }
  next(query);
}

}  // namespace stsd::bench
