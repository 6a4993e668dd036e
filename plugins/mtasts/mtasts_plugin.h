#pragma once
// The `mtasts` DNS plugin: answers `_mta-sts.<domain>` TXT (RFC 8461 §3.1), the optional
// `_smtp._tls.<domain>` TLS-RPT TXT (RFC 8460 §3) and `mta-sts.<domain>` A/AAAA for every
// domain in the policy store, under two delegation modes (README.md):
//  - NS delegation: each of those names is a zone apex delegated to us; we synthesize
//    its SOA and NS.
//  - CNAME target: the customer points the names at `<name>.<service_zone>.`; we are
//    authoritative for the service zone.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "config.h"
#include "dns/name.h"
#include "plugin.h"
#include "store/policy_store.h"
#include "zone/registration.h"

namespace stsd::mtasts {

struct MtastsConfig {
  std::optional<dns::Name> service_zone;  // CNAME-target mode when set
  bool ns_delegation = true;              // NS-delegation mode
  std::vector<dns::Name> nameservers;
  dns::Name hostmaster;  // SOA RNAME in wire form
  uint32_t ttl = 300;
  uint32_t negative_ttl = 300;  // SOA MINIMUM (RFC 2308 §4)
  // SOA REFRESH, RETRY, EXPIRE (RFC 1035 §3.3.13): how secondaries poll and how long they
  // keep the zone without reaching us. The defaults are the lowest values Zonemaster's
  // default profile does not flag (ZONE02: refresh >= 4h, ZONE04: retry >= 1h, ZONE03:
  // retry < refresh), and an expire of two weeks (ZONE05: >= 1 week; RFC 1912 §2.2: 2-4 weeks).
  uint32_t soa_refresh = 14400;
  uint32_t soa_retry = 3600;
  uint32_t soa_expire = 1209600;
  std::chrono::seconds rotation{86400};
  // The service zone is shown as of a time that steps by this much (zone_records.h).
  std::chrono::seconds serial_step{60};
  std::vector<boost::asio::ip::address> policy_host_a, policy_host_aaaa;
  // The provider's report intake (RFC 8460 §3 rua URIs): `_smtp._tls.<domain>` points at
  // it for every domain that sets no rua of its own.
  std::vector<std::string> tlsrpt_rua_default;
};

// Validates the plugin's section; errors name file:line:key (ConfigNode::fail).
MtastsConfig parse_mtasts_config(const ConfigNode& section);

// The octets a domain's wire name may grow by under this config (so the store can refuse
// domains whose names would not fit, RFC 1035 §2.3.4).
size_t name_room_needed(const MtastsConfig& config);

class ZoneRecords;
enum class ZoneKind : uint8_t;

class MtastsPlugin final : public Plugin {
 public:
  // `state` may be null (check-only mode): every query then goes to the next plugin.
  // `zone_config_time`: when the config-derived records last changed (zone_records.h).
  MtastsPlugin(MtastsConfig config, std::shared_ptr<store::PolicyStore> state, int64_t zone_config_time = 0);
  ~MtastsPlugin() override;

  std::string_view name() const override { return "mtasts"; }
  void serve(Query& query, Next next) const override;

  const MtastsConfig& config() const { return config_; }
  const std::shared_ptr<const ZoneRecords>& records() const { return records_; }
  // Where the factory's commit action puts the zone-source registration: it lives as long
  // as this plugin (the chain), and no longer.
  std::weak_ptr<std::shared_ptr<void>> source_registration_slot() const { return source_registration_; }

 private:
  using Kind = ZoneKind;
  struct Zone {
    const dns::Name* apex;  // the zone's apex (SOA owner)
    uint32_t serial;
  };

  bool serve_service_zone(Query& query, int64_t now) const;
  bool serve_delegated(Query& query, int64_t now) const;
  // Answers at an owned name; `at_apex` adds SOA/NS answers (NS-delegation mode).
  // `id_time`: the time the ids are shown as of.
  void answer_owned(Query& query, Kind kind, const store::ServedView& domain, const Zone& zone, bool at_apex,
                    int64_t id_time) const;
  // At a zone apex: SOA, NS (and ANY, answered as NS), else NODATA.
  void answer_apex_only(Query& query, const Zone& zone, uint16_t type) const;
  void answer_negative(Query& query, dns::Rcode rcode, const Zone& zone) const;
  bool add_soa(Query& query, dns::Section section, const dns::Name& owner, const Zone& zone, uint32_t ttl) const;

  MtastsConfig config_;
  std::shared_ptr<store::PolicyStore> state_;
  std::shared_ptr<const ZoneRecords> records_;  // shared with the zone source
  zone::RegistrationSlot source_registration_ = zone::make_registration_slot();
};

}  // namespace stsd::mtasts
