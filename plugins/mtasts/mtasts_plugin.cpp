#include "mtasts_plugin.h"

#include <algorithm>
#include <cstring>

#include "dns/rdata.h"
#include "dns/types.h"
#include "dns/writer.h"
#include "store/names.h"
#include "zone_records.h"

namespace stsd::mtasts {

namespace {

using dns::Name;
using dns::Rcode;
using dns::Section;
namespace rrtype = dns::rrtype;

// A name from config: "ns1.example.net." or "ns1.example.net" (taken as absolute).
Name config_name(const ConfigNode& node) {
  std::string text = node.as_string();
  if (text.empty() || text == ".") node.fail("expected a domain name, got '" + text + "'");
  if (text.back() != '.') text += '.';
  auto name = Name::from_text(text);
  if (!name) node.fail("'" + node.as_string() + "' is not a valid domain name");
  name->to_lower();
  return *name;
}

// SOA RNAME: "hostmaster.example.net." or the mailbox form "hostmaster@example.net".
Name mailbox_name(const ConfigNode& node) {
  std::string text = node.as_string();
  if (auto at = text.find('@'); at != std::string::npos) {
    const std::string local = text.substr(0, at);
    if (local.empty() || local.find('.') != std::string::npos)
      node.fail("hostmaster '" + text + "': write the mailbox as hostmaster.example.net. or hostmaster@example.net");
    text = local + "." + text.substr(at + 1);
  }
  if (text.empty()) node.fail("expected a mailbox");
  if (text.back() != '.') text += '.';
  auto name = Name::from_text(text);
  if (!name) node.fail("'" + node.as_string() + "' is not a valid mailbox name");
  name->to_lower();
  return *name;
}

// Wire label tests on a lowercased name (the decoder lowercases question names).
bool label_is(std::span<const uint8_t> wire, size_t offset, std::string_view label) {
  if (offset >= wire.size() || wire[offset] != label.size() || offset + 1 + label.size() > wire.size()) return false;
  return std::memcmp(wire.data() + offset + 1, label.data(), label.size()) == 0;
}

// Offsets of the labels of an uncompressed wire name (not counting the root).
size_t label_offsets(std::span<const uint8_t> wire, size_t (&out)[128]) {
  size_t count = 0, pos = 0;
  while (pos < wire.size() && wire[pos] != 0 && count < 128) {
    out[count++] = pos;
    pos += 1 + wire[pos];
  }
  return count;
}

// SOA REFRESH, RETRY and EXPIRE: durations of 1s to 2^31 - 1 s (RFC 1982 arithmetic
// needs no more, and secondaries such as BIND cap them lower anyway). An expire shorter
// than the refresh would have secondaries drop the zone before they first try to renew it
// (Zonemaster ZONE05 warns); the softer advice (ZONE02..04) is left to the operator.
void parse_soa_timers(const ConfigNode& section, MtastsConfig& config) {
  const auto timer = [&](std::string_view key, uint32_t fallback) {
    constexpr std::chrono::seconds kMax{2147483647};
    return static_cast<uint32_t>(
        section.duration_or(key, std::chrono::seconds(fallback), std::chrono::seconds(1), kMax).count());
  };
  config.soa_refresh = timer("soa_refresh", config.soa_refresh);
  config.soa_retry = timer("soa_retry", config.soa_retry);
  config.soa_expire = timer("soa_expire", config.soa_expire);
  if (config.soa_expire < config.soa_refresh) {
    auto node = section.get("soa_expire");
    if (!node) node = section.require("soa_refresh");  // the default expire is shorter than the refresh given
    node->fail("soa_expire (" + std::to_string(config.soa_expire) + "s) is shorter than soa_refresh (" +
               std::to_string(config.soa_refresh) + "s): secondaries would drop the zone before refreshing it");
  }
}

// The same checks as a domain's own rua URIs (store/names.h), so the default can stand in
// for them: each URI valid, the record one TXT string (RFC 8460 §3, RFC 1035 §3.3.14).
void parse_tlsrpt_rua_default(const ConfigNode& node, MtastsConfig& config) {
  for (const auto& item : node.items()) {
    const std::string uri = item.as_string();
    if (auto error = store::tlsrpt_rua_error(uri); !error.empty()) item.fail(error);
    config.tlsrpt_rua_default.push_back(uri);
  }
  if (config.tlsrpt_rua_default.empty())
    node.fail("give at least one URI (mailto: or https:), or leave tlsrpt_rua_default out");
  if (const auto record = store::tlsrpt_record(config.tlsrpt_rua_default); record.size() > 255)
    node.fail("the TLS-RPT record '" + record + "' is longer than 255 characters (one TXT string)");
}

}  // namespace

MtastsConfig parse_mtasts_config(const ConfigNode& section) {
  section.expect_map({"service_zone", "ns_delegation", "nameservers", "hostmaster", "ttl", "negative_ttl",
                      "soa_refresh", "soa_retry", "soa_expire", "rotation", "policy_host", "serial_step",
                      "tlsrpt_rua_default"});
  MtastsConfig config;
  if (auto node = section.get("service_zone")) config.service_zone = config_name(*node);
  config.ns_delegation = section.bool_or("ns_delegation", true);
  if (!config.service_zone && !config.ns_delegation)
    section.fail("nothing to serve: set service_zone (CNAME-target mode) or leave ns_delegation on");

  const auto nameservers = section.require("nameservers");
  for (const auto& item : nameservers.items()) config.nameservers.push_back(config_name(item));
  if (config.nameservers.empty()) nameservers.fail("at least one name server is required (the synthesized NS records)");

  if (auto node = section.get("hostmaster")) {
    config.hostmaster = mailbox_name(*node);
  } else {
    // Default: hostmaster at the service zone, or at the first name server's parent.
    Name base = config.service_zone ? *config.service_zone : config.nameservers.front().parent();
    if (!base.prepend_label("hostmaster")) section.fail("cannot derive a hostmaster name; set hostmaster");
    config.hostmaster = base;
  }

  // RFC 2181 §8: TTLs are at most 2^31 - 1.
  config.ttl = static_cast<uint32_t>(section.uint_or("ttl", 300, 0, 2147483647));
  config.negative_ttl = static_cast<uint32_t>(section.uint_or("negative_ttl", config.ttl, 0, 2147483647));
  parse_soa_timers(section, config);
  if (auto node = section.get("rotation")) {
    config.rotation = node->as_duration();
    if (config.rotation.count() < 1 || config.rotation > std::chrono::hours(24 * 31))
      node->fail("rotation must be between 1s and 31d (senders should re-fetch about daily, RFC 8461 §10.2)");
  }
  if (auto node = section.get("serial_step")) {
    config.serial_step = node->as_duration();
    // A secondary transfers the service zone at most once per step; a day keeps the ids
    // it shows close enough to the rotation (RFC 8461 §10.2: senders re-fetch about daily).
    if (config.serial_step.count() < 1 || config.serial_step > std::chrono::hours(1))
      node->fail("serial_step must be between 1s and 1h");
  }
  if (auto node = section.get("policy_host")) {
    node->expect_map({"a", "aaaa"});
    auto addresses = [](const ConfigNode& list, bool v6) {
      std::vector<boost::asio::ip::address> out;
      for (const auto& item : list.items()) {
        boost::system::error_code ec;
        auto address = boost::asio::ip::make_address(item.as_string(), ec);
        if (ec || address.is_v6() != v6)
          item.fail("'" + item.as_string() + "' is not an " + (v6 ? "IPv6" : "IPv4") + " address");
        out.push_back(address);
      }
      return out;
    };
    if (auto a = node->get("a")) config.policy_host_a = addresses(*a, false);
    if (auto aaaa = node->get("aaaa")) config.policy_host_aaaa = addresses(*aaaa, true);
  }
  if (auto node = section.get("tlsrpt_rua_default")) parse_tlsrpt_rua_default(*node, config);
  if (config.service_zone) {
    // The longest owned name is `_smtp._tls.<domain>.<service zone>.`; a 2-label domain
    // of 1-octet labels must still fit.
    if (config.service_zone->size() + 11 + 4 > dns::kMaxNameLength)
      section.require("service_zone").fail("the service zone is too long to hold any domain below it");
    for (const auto& ns : config.nameservers)
      if (ns.is_subdomain_of(*config.service_zone))
        section.require("nameservers")
            .fail("name server " + ns.to_text() +
                  " is inside the service zone, which this plugin does not serve addresses for; use names outside it");
  }
  return config;
}

size_t name_room_needed(const MtastsConfig& config) {
  // `_smtp._tls.` is 11 octets; under a service zone the root octet is replaced by the zone.
  return 11 + (config.service_zone ? config.service_zone->size() - 1 : 0);
}

MtastsPlugin::MtastsPlugin(MtastsConfig config, std::shared_ptr<store::PolicyStore> state, int64_t zone_config_time)
    : config_(std::move(config)), state_(std::move(state)) {
  const store::RotationSchedule schedule{config_.rotation, state_ ? state_->schedule().aligned_until : 0};
  records_ = std::make_shared<const ZoneRecords>(config_, schedule, zone_config_time);
}

MtastsPlugin::~MtastsPlugin() = default;

bool MtastsPlugin::add_soa(Query& query, Section section, const Name& owner, const Zone& zone, uint32_t ttl) const {
  uint8_t rdata[ZoneRecords::kMaxSoaRdata];
  const auto span = records_->soa_rdata(zone.serial, rdata);
  if (section == Section::Authority) return dns::add_negative_soa(query.response, owner, config_.ttl, span);
  return query.response.add(section, dns::RecordRef{owner, rrtype::SOA, dns::rrclass::IN, ttl, span});
}

void MtastsPlugin::answer_negative(Query& query, Rcode rcode, const Zone& zone) const {
  // RFC 2308 §2: NXDOMAIN and NODATA carry the zone's SOA for negative caching.
  query.response.start(rcode, true);
  add_soa(query, Section::Authority, *zone.apex, zone, config_.ttl);
}

void MtastsPlugin::answer_apex_only(Query& query, const Zone& zone, uint16_t type) const {
  const auto& q = query.request.question;
  if (type == rrtype::SOA) {
    query.response.start(Rcode::NoError, true);
    add_soa(query, Section::Answer, q.original, zone, config_.ttl);
    return;
  }
  // RFC 8482 §4.1, as Knot: ANY gets the apex's lowest type, NS.
  if (type == rrtype::NS || type == rrtype::ANY) {
    query.response.start(Rcode::NoError, true);
    for (const auto& rdata : records_->ns_rdata())
      query.response.add(Section::Answer, dns::RecordRef{q.original, rrtype::NS, dns::rrclass::IN, config_.ttl, rdata});
    return;
  }
  answer_negative(query, Rcode::NoError, zone);
}

void MtastsPlugin::answer_owned(Query& query, Kind kind, const store::ServedView& domain, const Zone& zone,
                                bool at_apex, int64_t id_time) const {
  const auto& q = query.request.question;
  // RFC 8482 §4.1: ANY gets one RRset, the same over UDP and TCP (as Knot: the lowest type).
  const uint16_t qtype = q.type == rrtype::ANY ? records_->any_answer_type(kind, domain, at_apex) : q.type;
  if (at_apex && (qtype == rrtype::SOA || qtype == rrtype::NS)) return answer_apex_only(query, zone, qtype);
  auto& response = query.response;
  bool started = false;
  records_->for_each_owned(kind, domain, id_time, qtype, [&](uint16_t type, std::span<const uint8_t> rdata) {
    if (!started) response.start(Rcode::NoError, true), started = true;
    response.add(Section::Answer, dns::RecordRef{q.original, type, dns::rrclass::IN, config_.ttl, rdata});
  });
  // Nothing of that type here (or nothing confirmed yet): NODATA with the SOA.
  if (!started) answer_negative(query, Rcode::NoError, zone);
}

bool MtastsPlugin::serve_service_zone(Query& query, int64_t now) const {
  const auto& q = query.request.question;
  const auto wire = q.name.wire();
  const Name& apex = *config_.service_zone;
  // One SOA for the whole service zone, shown as of a time that steps (zone_records.h).
  const int64_t shown_at = records_->service_zone_time(now, state_->last_change());
  const Zone zone{&apex, ZoneRecords::serial_of(shown_at)};
  const size_t relative = wire.size() - apex.size();  // octets of the labels above the apex
  if (relative == 0) {
    answer_apex_only(query, zone, q.type);
    return true;
  }
  const auto domain_after = [&](size_t offset) -> std::span<const uint8_t> {
    return offset < relative ? wire.subspan(offset, relative - offset) : std::span<const uint8_t>();
  };
  const size_t second = 1 + wire[0];
  Kind kind = Kind::MtaSts;
  std::span<const uint8_t> domain_labels;
  if (label_is(wire, 0, "_mta-sts")) {
    domain_labels = domain_after(second);
  } else if (label_is(wire, 0, "mta-sts")) {
    kind = Kind::PolicyHost;
    domain_labels = domain_after(second);
  } else if (label_is(wire, 0, "_smtp") && second < relative && label_is(wire, second, "_tls")) {
    kind = Kind::TlsRpt;
    domain_labels = domain_after(second + 1 + wire[second]);
  }
  if (!domain_labels.empty()) {
    if (auto domain = state_->served_wire(domain_labels)) {
      answer_owned(query, kind, domain, zone, false, shown_at);
      return true;
    }
  }
  // Empty non-terminals (a domain, `_tls.<domain>`, or any ancestor of a domain, below the
  // service zone) exist: NODATA, not NXDOMAIN, or resolvers that minimise query names
  // (RFC 9156) would stop at them (RFC 8020).
  const auto labels = wire.first(relative);
  bool exists = state_->served_wire(labels) || state_->is_ancestor_wire(labels);
  if (!exists && label_is(wire, 0, "_tls") && second < relative)
    exists = static_cast<bool>(state_->served_wire(domain_after(second)));
  answer_negative(query, exists ? Rcode::NoError : Rcode::NXDomain, zone);
  return true;
}

bool MtastsPlugin::serve_delegated(Query& query, int64_t now) const {
  const auto& q = query.request.question;
  const auto wire = q.name.wire();
  size_t offsets[128];
  const size_t count = label_offsets(wire, offsets);
  // The closest enclosing zone is the leftmost `_mta-sts`/`mta-sts`/`_smtp._tls` label
  // whose remainder is a domain in the store.
  for (size_t i = 0; i < count; ++i) {
    const size_t at = offsets[i];
    Kind kind;
    size_t domain_offset;
    if (label_is(wire, at, "_mta-sts")) {
      kind = Kind::MtaSts;
      domain_offset = i + 1 < count ? offsets[i + 1] : wire.size();
    } else if (label_is(wire, at, "mta-sts")) {
      kind = Kind::PolicyHost;
      domain_offset = i + 1 < count ? offsets[i + 1] : wire.size();
    } else if (label_is(wire, at, "_smtp") && i + 1 < count && label_is(wire, offsets[i + 1], "_tls")) {
      kind = Kind::TlsRpt;
      domain_offset = i + 2 < count ? offsets[i + 2] : wire.size();
    } else {
      continue;
    }
    if (domain_offset + 1 >= wire.size()) continue;  // no domain labels left
    auto domain = state_->served_wire(wire.subspan(domain_offset, wire.size() - 1 - domain_offset));
    if (!domain) continue;
    const Name apex = q.name.parent(i);
    const Zone zone{&apex, records_->delegated_serial(kind, domain, now)};
    if (i == 0)
      answer_owned(query, kind, domain, zone, true, records_->delegated_time(kind, domain, now));
    else
      answer_negative(query, Rcode::NXDomain, zone);  // nothing exists below the apex
    return true;
  }
  return false;
}

void MtastsPlugin::serve(Query& query, Next next) const {
  const auto& request = query.request;
  if (!state_ || !request.has_question ||
      (request.question.rclass != dns::rrclass::IN && request.question.rclass != dns::rrclass::ANY))
    return next(query);
  // Zone transfers belong to the `transfer` plugin (earlier in the chain), which reads
  // this plugin's zones through its zone::Source; without it the core refuses them.
  if (request.question.type == rrtype::AXFR || request.question.type == rrtype::IXFR) return next(query);
  const int64_t now = state_->now();  // never behind a time already served (store/time_floor.h)
  if (config_.service_zone && request.question.name.is_subdomain_of(*config_.service_zone)) {
    serve_service_zone(query, now);
    return;
  }
  if (config_.ns_delegation && serve_delegated(query, now)) return;
  next(query);
}

}  // namespace stsd::mtasts
