#pragma once
// The mtasts plugin's zones as data for zone transfers (zone/source.h): every zone the
// plugin answers for, with the serial its SOA answers carry, and each zone's full
// content, built by the same ZoneRecords as the answers.
//  - NS-delegation mode: `_mta-sts.<d>`, `_smtp._tls.<d>` and `mta-sts.<d>` for every
//    domain <d> of the store (three zones per domain).
//  - CNAME-target mode: the service zone, one zone holding the names of every domain.
#include <memory>
#include <optional>
#include <vector>

#include "mtasts_plugin.h"
#include "store/policy_store.h"
#include "zone/source.h"
#include "zone_records.h"

namespace stsd::mtasts {

class MtastsZoneSource final : public zone::Source {
 public:
  MtastsZoneSource(const MtastsConfig& config, std::shared_ptr<store::PolicyStore> state,
                   std::shared_ptr<const ZoneRecords> records);

  void list(std::vector<zone::ZoneEntry>& out) const override;
  std::optional<zone::Content> render(const dns::Name& apex) const override;

 private:
  zone::Content render_service_zone() const;
  std::optional<zone::Content> render_delegated(const dns::Name& apex) const;
  // The apex SOA and NS records of a zone.
  void add_apex(zone::Content& content, const dns::Name& apex, uint32_t serial) const;
  void add_owned(zone::Content& content, const dns::Name& owner, ZoneKind kind, const store::ServedView& domain,
                 int64_t id_time) const;

  std::optional<dns::Name> service_zone_;
  bool ns_delegation_;
  std::shared_ptr<store::PolicyStore> state_;
  std::shared_ptr<const ZoneRecords> records_;
};

}  // namespace stsd::mtasts
