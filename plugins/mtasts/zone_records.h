#pragma once
// The records of the zones the mtasts plugin serves and their SOA serials, in one place:
// the DNS answers (MtastsPlugin) and the zone contents handed to secondaries
// (MtastsZoneSource) are both built here, so a transfer never differs from the answers.
//
// Serials are Unix times (RFC 1982 arithmetic, good until 2106), all from
// PolicyStore::now(), which never goes back (store/time_floor.h):
//  - a change at t shows from serial t + 1 (a serial t may already be out in that second);
//    the store stamps changes strictly increasing, so no two changes share a serial;
//  - `_mta-sts.<d>`: max(start of the rotation period the id shows, txt_changed_at + 1,
//    config time + 1), the id shown as of max(now, txt_changed_at + 1, config time + 1);
//  - `_smtp._tls.<d>`, `mta-sts.<d>`: max(settings_changed_at, config time) + 1;
//  - service zone: its content is shown as of a time T = max(last store change + 1,
//    config time + 1, now rounded down to serial_step), ids included; the serial is T.
// The config time is when the records derived from the config last changed
// (zone_config_digest, persisted per server block by the factory, register.cpp).
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dns/name.h"
#include "dns/types.h"
#include "mtasts_plugin.h"
#include "pending_load.h"
#include "store/policy_store.h"

namespace stsd::mtasts {

// The names the plugin owns for a domain <d>: `_mta-sts.<d>`, `_smtp._tls.<d>`, `mta-sts.<d>`.
enum class ZoneKind : uint8_t { MtaSts, TlsRpt, PolicyHost };
inline constexpr ZoneKind kZoneKinds[] = {ZoneKind::MtaSts, ZoneKind::TlsRpt, ZoneKind::PolicyHost};

// The labels in front of the domain, in wire form ("\x08_mta-sts", "\x05_smtp\x04_tls", ...).
std::span<const uint8_t> kind_labels(ZoneKind kind) noexcept;
// `kind`.<domain labels>.<suffix>; false when the name would exceed 255 octets.
bool owned_name(ZoneKind kind, std::span<const uint8_t> domain_labels, const dns::Name& suffix,
                dns::Name& out) noexcept;

// SHA-256 (hex) of everything the config contributes to the zones: the SOA fields (MNAME,
// RNAME, REFRESH, RETRY, EXPIRE, MINIMUM: the SOA rdata with serial 0), the NS set, the
// TTL, the policy-host addresses, the rotation and the serial step, the
// service zone, the delegation mode and the default TLS-RPT URIs. A change of it moves
// every serial up.
std::string zone_config_digest(const MtastsConfig& config);

// The store fact keeping "<time> <digest>" for server block `server_index`.
std::string zone_config_fact(size_t server_index);
// When the records `config` contributes to the zones of server block `server_index` last
// changed: the time kept in the store while the digest is the same, else the store's now,
// written when `load` commits (in check-only mode there is no store and nothing is written).
int64_t prepare_zone_config_time(const std::shared_ptr<store::PolicyStore>& state, size_t server_index,
                                 const MtastsConfig& config, PendingLoad& load);

class ZoneRecords {
 public:
  // `config_time`: when the config-derived records last changed (0 when unknown).
  ZoneRecords(const MtastsConfig& config, store::RotationSchedule schedule, int64_t config_time);

  uint32_t ttl() const noexcept { return ttl_; }
  int64_t config_time() const noexcept { return config_time_; }
  const store::RotationSchedule& schedule() const noexcept { return schedule_; }
  const std::vector<std::vector<uint8_t>>& ns_rdata() const noexcept { return ns_rdata_; }

  // The moment the delegated zone `kind`.<domain> is shown as of at `now` (its id): now,
  // or the second after its last change when that is later.
  int64_t delegated_time(ZoneKind kind, const store::ServedView& domain, int64_t now) const noexcept;
  // The serial of the delegated zone `kind`.<domain> at `now` (ids shown at delegated_time).
  uint32_t delegated_serial(ZoneKind kind, const store::ServedView& domain, int64_t now) const noexcept;
  // The time the service zone is shown as of (its ids and its serial), at most one second after `now`.
  int64_t service_zone_time(int64_t now, int64_t last_change) const noexcept;
  static uint32_t serial_of(int64_t unix_time) noexcept {
    return unix_time <= 0 ? 1u : static_cast<uint32_t>(unix_time);
  }

  // The SOA rdata with `serial`, written into `buffer`.
  static constexpr size_t kMaxSoaRdata = 2 * dns::kMaxNameLength + 20;
  std::span<const uint8_t> soa_rdata(uint32_t serial, uint8_t (&buffer)[kMaxSoaRdata]) const noexcept;

  // RFC 8482 §4.1, as Knot answers ANY: the type of the one RRset an ANY query at the owned
  // name `kind`.<domain> gets, the lowest type there (A, NS, SOA, TXT, AAAA); `at_apex`:
  // the name is a zone apex (NS delegation), which holds NS and SOA too. 0: no records.
  uint16_t any_answer_type(ZoneKind kind, const store::ServedView& domain, bool at_apex) const noexcept;

  // The TLS-RPT TXT rdata of `domain`: its own rua, else the configured default (empty: none).
  std::span<const uint8_t> tlsrpt_rdata(const store::ServedView& domain) const noexcept {
    const auto own = domain.tlsrpt_rdata();
    return own.empty() ? std::span<const uint8_t>(default_tlsrpt_rdata_) : own;
  }

  // Calls emit(type, rdata) for each record of type `qtype` (ANY: every record) at the
  // owned name `kind`.<domain>, with the id of `id_time`; returns how many. No allocation.
  template <class Emit>
  size_t for_each_owned(ZoneKind kind, const store::ServedView& domain, int64_t id_time, uint16_t qtype,
                        Emit&& emit) const;

 private:
  // "v=STSv1; id=<id>;" as TXT rdata (RFC 8461 §3.1: one string, no extension fields).
  static constexpr size_t kMaxMtaStsTxt = 1 + 12 + store::kMaxIdLength + 1;
  size_t mta_sts_txt(const store::ServedView& domain, int64_t id_time, uint8_t (&out)[kMaxMtaStsTxt]) const noexcept;

  uint32_t ttl_;
  int64_t config_time_;
  int64_t serial_step_;
  store::RotationSchedule schedule_;
  // Pre-rendered: nothing is built per query except the TXT id and the SOA serial.
  std::vector<std::vector<uint8_t>> ns_rdata_, a_rdata_, aaaa_rdata_;
  std::vector<uint8_t> default_tlsrpt_rdata_;  // tlsrpt_rua_default as one TXT string, or empty
  std::vector<uint8_t> soa_template_;
  size_t soa_serial_offset_ = 0;
};

template <class Emit>
size_t ZoneRecords::for_each_owned(ZoneKind kind, const store::ServedView& domain, int64_t id_time, uint16_t qtype,
                                   Emit&& emit) const {
  namespace rrtype = dns::rrtype;
  const bool any = qtype == rrtype::ANY;
  size_t count = 0;
  switch (kind) {
    case ZoneKind::MtaSts:
      if ((any || qtype == rrtype::TXT) && domain.has_confirmed()) {
        uint8_t rdata[kMaxMtaStsTxt];
        emit(rrtype::TXT, std::span<const uint8_t>(rdata, mta_sts_txt(domain, id_time, rdata)));
        ++count;
      }
      break;
    case ZoneKind::TlsRpt:
      if (const auto rdata = tlsrpt_rdata(domain); (any || qtype == rrtype::TXT) && !rdata.empty()) {
        emit(rrtype::TXT, rdata);
        ++count;
      }
      break;
    case ZoneKind::PolicyHost:
      if (any || qtype == rrtype::A)
        for (const auto& rdata : a_rdata_) emit(rrtype::A, std::span<const uint8_t>(rdata)), ++count;
      if (any || qtype == rrtype::AAAA)
        for (const auto& rdata : aaaa_rdata_) emit(rrtype::AAAA, std::span<const uint8_t>(rdata)), ++count;
      break;
  }
  return count;
}

}  // namespace stsd::mtasts
