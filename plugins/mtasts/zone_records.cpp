#include "zone_records.h"

#include <algorithm>
#include <array>


#include "dns/rdata.h"
#include "logging.h"
#include "store/names.h"
#include "store/sha256.h"

namespace stsd::mtasts {

namespace {

constexpr uint8_t kMtaStsLabels[] = {8, '_', 'm', 't', 'a', '-', 's', 't', 's'};
constexpr uint8_t kTlsRptLabels[] = {5, '_', 's', 'm', 't', 'p', 4, '_', 't', 'l', 's'};
constexpr uint8_t kPolicyHostLabels[] = {7, 'm', 't', 'a', '-', 's', 't', 's'};

void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// The length-prefixed pieces a digest covers, so that no two configs run together.
void append_piece(std::string& out, std::span<const uint8_t> bytes) {
  const uint32_t size = static_cast<uint32_t>(bytes.size());
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}
void append_number(std::string& out, int64_t value) {
  const std::string text = std::to_string(value);
  append_piece(out, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

}  // namespace

std::span<const uint8_t> kind_labels(ZoneKind kind) noexcept {
  switch (kind) {
    case ZoneKind::MtaSts:
      return kMtaStsLabels;
    case ZoneKind::TlsRpt:
      return kTlsRptLabels;
    case ZoneKind::PolicyHost:
      break;
  }
  return kPolicyHostLabels;
}

bool owned_name(ZoneKind kind, std::span<const uint8_t> domain_labels, const dns::Name& suffix,
                dns::Name& out) noexcept {
  const auto prefix = kind_labels(kind);
  const size_t size = prefix.size() + domain_labels.size() + suffix.size();
  if (size > dns::kMaxNameLength) return false;
  uint8_t* p = out.mutable_data();
  std::memcpy(p, prefix.data(), prefix.size());
  std::memcpy(p + prefix.size(), domain_labels.data(), domain_labels.size());
  std::memcpy(p + prefix.size() + domain_labels.size(), suffix.data(), suffix.size());
  out.set_size(size);
  return true;
}

std::string zone_config_digest(const MtastsConfig& config) {
  const ZoneRecords records(config, store::RotationSchedule{config.rotation, 0}, 0);
  std::string pieces;
  uint8_t soa[ZoneRecords::kMaxSoaRdata];
  append_piece(pieces, records.soa_rdata(0, soa));
  for (const auto& ns : records.ns_rdata()) append_piece(pieces, ns);
  append_number(pieces, -1);  // the NS list ends
  for (const auto& a : config.policy_host_a) append_piece(pieces, dns::address_rdata(a));
  append_number(pieces, -1);
  for (const auto& a : config.policy_host_aaaa) append_piece(pieces, dns::address_rdata(a));
  append_number(pieces, -1);
  append_number(pieces, config.ttl);
  append_number(pieces, config.rotation.count());
  append_number(pieces, config.serial_step.count());
  append_piece(pieces, config.service_zone ? config.service_zone->wire() : std::span<const uint8_t>());
  append_number(pieces, config.ns_delegation ? 1 : 0);
  // Only when set: a config without it keeps the digest (and the serials) it had before
  // the option existed.
  if (!config.tlsrpt_rua_default.empty()) {
    const std::string record = store::tlsrpt_record(config.tlsrpt_rua_default);
    append_piece(pieces, {reinterpret_cast<const uint8_t*>(record.data()), record.size()});
  }
  return store::sha256_hex(pieces);
}

std::string zone_config_fact(size_t server_index) { return "mtasts/zone_config/" + std::to_string(server_index); }

// A fact that cannot be read, or reads wrong, counts as a change: serials then move up,
// which is always safe.
int64_t prepare_zone_config_time(const std::shared_ptr<store::PolicyStore>& state, size_t server_index,
                                 const MtastsConfig& config, PendingLoad& load) {
  const std::string fact = zone_config_fact(server_index);
  const std::string digest = zone_config_digest(config);
  std::optional<std::string> stored;
  try {
    stored = state->fact(fact);
  } catch (const std::exception& e) {
    log::warn(std::string("mtasts: cannot read the zone config fact, every serial moves up: ") + e.what());
  }
  int64_t previous = 0;
  if (stored) {
    const auto space = stored->find(' ');
    try {
      previous = space == std::string::npos ? 0 : std::stoll(stored->substr(0, space));
    } catch (const std::exception&) {
      previous = 0;  // a malformed time counts as a change
    }
    if (previous > 0 && stored->substr(space + 1) == digest) {
      state->raise_change_floor(previous);
      return previous;
    }
  }
  // After every change already stamped, so the change moves every serial (zone_records.h:
  // a zone shows a change at t from t + 1, and store stamps may run a second or two
  // ahead); and every later store change is stamped after it (raise_change_floor). The
  // floor moves now, not at commit, so no write between the two can share its second; an
  // abandoned load leaves it raised, which only moves later stamps up by a second.
  const int64_t now =
      std::max({state->now(), state->last_change() + 1, state->change_floor() + 1, previous + 1});
  state->raise_change_floor(now);
  load.on_commit([state, fact, value = std::to_string(now) + " " + digest] {
    try {
      state->put_fact(fact, value);
    } catch (const std::exception& e) {
      // The serials served now are right; the next start just moves them up once more.
      log::warn(std::string("mtasts: cannot record the zone config change time: ") + e.what());
    }
  });
  return now;
}

ZoneRecords::ZoneRecords(const MtastsConfig& config, store::RotationSchedule schedule, int64_t config_time)
    : ttl_(config.ttl), config_time_(config_time), serial_step_(config.serial_step.count()), schedule_(schedule) {
  for (const auto& ns : config.nameservers) ns_rdata_.push_back(dns::name_rdata(ns));
  for (const auto& a : config.policy_host_a) a_rdata_.push_back(dns::address_rdata(a));
  for (const auto& a : config.policy_host_aaaa) aaaa_rdata_.push_back(dns::address_rdata(a));
  if (const std::string record = store::tlsrpt_record(config.tlsrpt_rua_default); !record.empty())
    default_tlsrpt_rdata_ = dns::txt_rdata(record);  // one string: the parser holds it to 255 octets
  dns::Soa soa;
  soa.mname = config.nameservers.front();
  soa.rname = config.hostmaster;
  soa.serial = 0;
  soa.refresh = config.soa_refresh;
  soa.retry = config.soa_retry;
  soa.expire = config.soa_expire;
  soa.minimum = config.negative_ttl;
  soa_template_ = dns::soa_rdata(soa);
  soa_serial_offset_ = soa.mname.size() + soa.rname.size();
  if (serial_step_ < 1) serial_step_ = 1;
}

int64_t ZoneRecords::delegated_time(ZoneKind kind, const store::ServedView& domain, int64_t now) const noexcept {
  if (kind != ZoneKind::MtaSts) return now;  // nothing in these zones depends on time
  return std::max(now, std::max(domain.txt_changed_at(), config_time_) + 1);
}

uint32_t ZoneRecords::delegated_serial(ZoneKind kind, const store::ServedView& domain, int64_t now) const noexcept {
  // A change at t shows from serial t + 1: a serial equal to t may already have been
  // handed out in that second (a rotation at t, or the previous change), and the change
  // must move the serial past it. The store stamps changes strictly increasing
  // (Transaction::change_stamp), so two changes in one second get two serials.
  if (kind != ZoneKind::MtaSts) return serial_of(std::max(domain.settings_changed_at(), config_time_) + 1);
  // The TXT changes at the start of the period it shows and at every confirm/hold change;
  // it is shown as of delegated_time, so the content is a function of the serial.
  int64_t changed = std::max(domain.txt_changed_at(), config_time_) + 1;
  if (domain.has_confirmed())
    changed = std::max(changed, domain.effective_period(delegated_time(kind, domain, now), schedule_).start);
  return serial_of(changed);
}

int64_t ZoneRecords::service_zone_time(int64_t now, int64_t last_change) const noexcept {
  // Its domains rotate at their own offsets, so some TXT in it may change at any second;
  // showing the zone as of a time that steps keeps the serial (and the secondaries'
  // transfers) to one per step. An id shown up to one step late is the previous one,
  // which had its evidence (issue 11). A change at t shows from t + 1 (delegated_serial).
  int64_t floor = now - now % serial_step_;
  if (now < 0 && now % serial_step_ != 0) floor -= serial_step_;
  return std::max(floor, std::max(last_change, config_time_) + 1);
}

uint16_t ZoneRecords::any_answer_type(ZoneKind kind, const store::ServedView& domain, bool at_apex) const noexcept {
  namespace rrtype = dns::rrtype;
  switch (kind) {
    case ZoneKind::PolicyHost:
      if (!a_rdata_.empty()) return rrtype::A;
      if (at_apex) return rrtype::NS;
      return aaaa_rdata_.empty() ? 0 : rrtype::AAAA;
    case ZoneKind::MtaSts:
      if (at_apex) return rrtype::NS;
      return domain.has_confirmed() ? rrtype::TXT : 0;
    case ZoneKind::TlsRpt:
      if (at_apex) return rrtype::NS;
      return tlsrpt_rdata(domain).empty() ? 0 : rrtype::TXT;
  }
  return 0;
}

std::span<const uint8_t> ZoneRecords::soa_rdata(uint32_t serial, uint8_t (&buffer)[kMaxSoaRdata]) const noexcept {
  std::memcpy(buffer, soa_template_.data(), soa_template_.size());
  put32(buffer + soa_serial_offset_, serial);
  return {buffer, soa_template_.size()};
}

size_t ZoneRecords::mta_sts_txt(const store::ServedView& domain, int64_t id_time,
                                uint8_t (&out)[kMaxMtaStsTxt]) const noexcept {
  static constexpr std::string_view kPrefix = "v=STSv1; id=";
  char id[store::kMaxIdLength];
  const size_t id_length = domain.id_at(id_time, schedule_, id);
  size_t n = 1;
  std::memcpy(out + n, kPrefix.data(), kPrefix.size());
  n += kPrefix.size();
  std::memcpy(out + n, id, id_length);
  n += id_length;
  out[n++] = ';';
  out[0] = static_cast<uint8_t>(n - 1);
  return n;
}

}  // namespace stsd::mtasts
