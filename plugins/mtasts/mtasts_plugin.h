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
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "config.h"
#include "dns/name.h"
#include "plugin.h"
#include "store/policy_store.h"

namespace stsd::mtasts {

struct MtastsConfig {
  std::optional<dns::Name> service_zone;  // CNAME-target mode when set
  bool ns_delegation = true;              // NS-delegation mode
  std::vector<dns::Name> nameservers;
  dns::Name hostmaster;  // SOA RNAME in wire form
  uint32_t ttl = 300;
  uint32_t negative_ttl = 300;  // SOA MINIMUM (RFC 2308 §4)
  std::chrono::seconds rotation{86400};
  std::vector<boost::asio::ip::address> policy_host_a, policy_host_aaaa;
};

// Validates the plugin's section; errors name file:line:key (ConfigNode::fail).
MtastsConfig parse_mtasts_config(const ConfigNode& section);

// The octets a domain's wire name may grow by under this config (so the store can refuse
// domains whose names would not fit, RFC 1035 §2.3.4).
size_t name_room_needed(const MtastsConfig& config);

class MtastsPlugin final : public Plugin {
 public:
  // `state` may be null (check-only mode): every query then goes to the next plugin.
  MtastsPlugin(MtastsConfig config, std::shared_ptr<store::PolicyStore> state);

  std::string_view name() const override { return "mtasts"; }
  void serve(Query& query, Next next) const override;

  const MtastsConfig& config() const { return config_; }

 private:
  enum class Kind : uint8_t { MtaSts, TlsRpt, PolicyHost };
  struct Zone {
    const dns::Name* apex;  // the zone's apex (SOA owner)
    uint32_t serial;
  };

  bool serve_service_zone(Query& query, int64_t now) const;
  bool serve_delegated(Query& query, int64_t now) const;
  // Answers at an owned name; `at_apex` adds SOA/NS answers (NS-delegation mode).
  void answer_owned(Query& query, Kind kind, const store::ServedView& domain, const Zone& zone, bool at_apex,
                    int64_t now) const;
  void answer_apex_only(Query& query, const Zone& zone) const;  // service-zone apex
  void answer_negative(Query& query, dns::Rcode rcode, const Zone& zone) const;
  bool add_soa(Query& query, dns::Section section, const dns::Name& owner, const Zone& zone, uint32_t ttl) const;
  uint32_t mta_sts_serial(const store::ServedView& domain, int64_t now) const;

  MtastsConfig config_;
  std::shared_ptr<store::PolicyStore> state_;
  store::RotationSchedule schedule_;  // config_.rotation and the store's migration time
  // Pre-rendered rdata: nothing is built per query except the TXT id and the SOA serial.
  std::vector<std::vector<uint8_t>> ns_rdata_, a_rdata_, aaaa_rdata_;
  std::vector<uint8_t> soa_template_;
  size_t soa_serial_offset_ = 0;
};

}  // namespace stsd::mtasts
