#include "zone_source.h"

#include <cstring>

#include "dns/types.h"

namespace stsd::mtasts {

namespace {

namespace rrtype = dns::rrtype;

// A render of the service zone that saw the store change under it is taken again, so
// that its serial and its records are of one moment; after this many tries the content
// may be newer than its serial (never older), and the next serial covers it.
constexpr int kServiceZoneTries = 3;

bool label_is(std::span<const uint8_t> wire, size_t offset, std::span<const uint8_t> labels) {
  return offset + labels.size() <= wire.size() && std::memcmp(wire.data() + offset, labels.data(), labels.size()) == 0;
}

}  // namespace

MtastsZoneSource::MtastsZoneSource(const MtastsConfig& config, std::shared_ptr<store::PolicyStore> state,
                                   std::shared_ptr<const ZoneRecords> records)
    : service_zone_(config.service_zone),
      ns_delegation_(config.ns_delegation),
      state_(std::move(state)),
      records_(std::move(records)) {}

void MtastsZoneSource::list(std::vector<zone::ZoneEntry>& out) const {
  const int64_t now = state_->now();
  if (service_zone_)
    out.push_back({*service_zone_, ZoneRecords::serial_of(records_->service_zone_time(now, state_->last_change()))});
  if (!ns_delegation_) return;
  const dns::Name root;
  zone::ZoneEntry entry;
  state_->for_each_served([&](const store::ServedView& domain) {
    for (const ZoneKind kind : kZoneKinds) {
      if (!owned_name(kind, domain.wire_key(), root, entry.apex)) continue;  // too long to be asked for
      // A name inside the service zone is answered as part of it (MtastsPlugin::serve).
      if (service_zone_ && entry.apex.is_subdomain_of(*service_zone_)) continue;
      entry.serial = records_->delegated_serial(kind, domain, now);
      out.push_back(entry);
    }
  });
}

std::optional<zone::Content> MtastsZoneSource::render(const dns::Name& apex) const {
  const dns::Name lowered = apex.lowered();
  if (service_zone_ && lowered.is_subdomain_of(*service_zone_)) {
    if (lowered.size() != service_zone_->size()) return std::nullopt;  // inside it: not an apex
    zone::Content content;
    for (int attempt = 0; attempt < kServiceZoneTries; ++attempt) {
      const uint64_t generation = state_->generation();
      content = render_service_zone();
      if (state_->generation() == generation) break;
    }
    return content;
  }
  if (!ns_delegation_) return std::nullopt;
  return render_delegated(lowered);
}

zone::Content MtastsZoneSource::render_service_zone() const {
  const int64_t shown_at = records_->service_zone_time(state_->now(), state_->last_change());
  zone::Content content;
  content.serial = ZoneRecords::serial_of(shown_at);
  add_apex(content, *service_zone_, content.serial);
  dns::Name owner;
  state_->for_each_served([&](const store::ServedView& domain) {
    for (const ZoneKind kind : kZoneKinds)
      if (owned_name(kind, domain.wire_key(), *service_zone_, owner)) add_owned(content, owner, kind, domain, shown_at);
  });
  return content;
}

std::optional<zone::Content> MtastsZoneSource::render_delegated(const dns::Name& apex) const {
  // The apex is `<kind labels>.<domain>.` for a domain of the store (as serve_delegated
  // finds it: a name whose first labels are the kind's is the apex of its own zone).
  const auto wire = apex.wire();
  for (const ZoneKind kind : kZoneKinds) {
    const auto labels = kind_labels(kind);
    if (!label_is(wire, 0, labels) || labels.size() + 1 >= wire.size()) continue;
    const auto domain_labels = wire.subspan(labels.size(), wire.size() - 1 - labels.size());
    const store::ServedView domain = state_->served_wire(domain_labels);
    if (!domain) continue;
    const int64_t now = state_->now();
    zone::Content content;
    content.serial = records_->delegated_serial(kind, domain, now);
    add_apex(content, apex, content.serial);
    add_owned(content, apex, kind, domain, now);
    return content;
  }
  return std::nullopt;
}

void MtastsZoneSource::add_apex(zone::Content& content, const dns::Name& apex, uint32_t serial) const {
  uint8_t soa[ZoneRecords::kMaxSoaRdata];
  const auto rdata = records_->soa_rdata(serial, soa);
  content.records.push_back({apex, rrtype::SOA, records_->ttl(), {rdata.begin(), rdata.end()}});
  for (const auto& ns : records_->ns_rdata()) content.records.push_back({apex, rrtype::NS, records_->ttl(), ns});
}

void MtastsZoneSource::add_owned(zone::Content& content, const dns::Name& owner, ZoneKind kind,
                                 const store::ServedView& domain, int64_t id_time) const {
  records_->for_each_owned(kind, domain, id_time, rrtype::ANY, [&](uint16_t type, std::span<const uint8_t> rdata) {
    content.records.push_back({owner, type, records_->ttl(), {rdata.begin(), rdata.end()}});
  });
}

}  // namespace stsd::mtasts
