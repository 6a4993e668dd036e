#include "catalog.h"

#include <algorithm>
#include <charconv>

#include "dns/rdata.h"
#include "dns/types.h"
#include "wire_records.h"

namespace stsd::transfer {

namespace {

constexpr size_t kLabelDigits = 16;

// RFC 9432 §4.1: the NS record's target is "invalid.", which consumers ignore.
dns::Name invalid_name() { return *dns::Name::from_text("invalid."); }

void hex_label(uint64_t value, char (&out)[kLabelDigits]) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < kLabelDigits; ++i) out[i] = kDigits[(value >> (60 - 4 * i)) & 0xf];
}

std::optional<uint64_t> parse_hex_label(std::string_view text) {
  if (text.size() != kLabelDigits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    value <<= 4;
    if (c >= '0' && c <= '9')
      value |= static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      value |= static_cast<uint64_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      value |= static_cast<uint64_t>(c - 'A' + 10);
    else
      return std::nullopt;
  }
  return value;
}

}  // namespace

uint64_t fnv1a(std::string_view octets, uint64_t seed) {
  uint64_t hash = seed;
  for (unsigned char c : octets) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

uint64_t member_set_digest(const MemberKeys& members) {
  uint64_t digest = fnv1a({});
  for (const auto& member : members) {
    // The length first, so ("ab","c") and ("a","bc") differ.
    const char size = static_cast<char>(member.size());
    digest = fnv1a(std::string_view(&size, 1), digest);
    digest = fnv1a(member, digest);
  }
  return digest;
}

std::optional<CatalogSerial> parse_catalog_fact(std::string_view text) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  CatalogSerial state;
  const std::string_view serial = text.substr(0, space);
  auto [end, error] = std::from_chars(serial.data(), serial.data() + serial.size(), state.serial);
  if (error != std::errc() || end != serial.data() + serial.size()) return std::nullopt;
  auto digest = parse_hex_label(text.substr(space + 1));
  if (!digest) return std::nullopt;
  state.digest = *digest;
  return state;
}

std::string format_catalog_fact(const CatalogSerial& state) {
  char digest[kLabelDigits];
  hex_label(state.digest, digest);
  return std::to_string(state.serial) + " " + std::string(digest, kLabelDigits);
}

std::string catalog_fact_name(const dns::Name& apex) {
  std::string text = apex.lowered().to_text();
  if (!text.empty() && text.back() == '.') text.pop_back();
  return "transfer/catalog/" + text;
}

CatalogSerial next_catalog_serial(const std::optional<CatalogSerial>& previous, uint64_t digest, int64_t now) {
  if (previous && previous->digest == digest) return *previous;
  const auto clock_serial = static_cast<uint32_t>(now);
  if (!previous || serial_after(clock_serial, previous->serial)) return {clock_serial, digest};
  return {previous->serial + 1, digest};
}

CatalogZone::CatalogZone(const dns::Name& apex, uint32_t serial, const MemberKeys& members)
    : apex_(apex.lowered()), serial_(serial), version_name_(apex_), zones_name_(apex_) {
  version_name_.prepend_label("version");
  zones_name_.prepend_label("zones");
  const dns::Name invalid = invalid_name();
  soa_rdata_ = dns::soa_rdata(dns::Soa{invalid, invalid, serial, 300, 60, 2419200, 0});
  ns_rdata_ = dns::name_rdata(invalid);
  version_rdata_ = dns::txt_rdata("2");

  size_t total = 0;
  for (const auto& member : members) total += member.size();
  names_.reserve(total);
  members_.reserve(members.size());
  for (const auto& member : members) {
    Member entry;
    entry.offset = static_cast<uint32_t>(names_.size());
    entry.size = static_cast<uint16_t>(member.size());
    names_.insert(names_.end(), member.begin(), member.end());
    entry.label = fnv1a(member);
    members_.push_back(entry);
  }
  // Collisions, resolved in name order (`members` is sorted): the later member probes
  // the following values.
  std::sort(members_.begin(), members_.end(), [](const Member& a, const Member& b) {
    return a.label != b.label ? a.label < b.label : a.offset < b.offset;
  });
  for (size_t i = 1; i < members_.size(); ++i)
    if (members_[i].label <= members_[i - 1].label) members_[i].label = members_[i - 1].label + 1;
}

std::string CatalogZone::label_of(const dns::Name& member) const {
  const dns::Name lowered = member.lowered();
  const auto wire = lowered.wire();
  for (const auto& entry : members_) {
    const auto name = entry.name(names_);
    if (std::equal(name.begin(), name.end(), wire.begin(), wire.end())) {
      char label[kLabelDigits];
      hex_label(entry.label, label);
      return std::string(label, kLabelDigits);
    }
  }
  return {};
}

ZoneVersion CatalogZone::version() const {
  ZoneVersion version;
  version.serial = serial_;
  version.records.reserve(names_.size() + members_.size() * (kLabelDigits + 1 + zones_name_.size() + 10) + 256);
  append_record(version.records, zone::Record{apex_, dns::rrtype::SOA, kTtl, soa_rdata_});
  append_record(version.records, zone::Record{apex_, dns::rrtype::NS, kTtl, ns_rdata_});
  append_record(version.records, zone::Record{version_name_, dns::rrtype::TXT, kTtl, version_rdata_});
  zone::Record ptr{zones_name_, dns::rrtype::PTR, kTtl, {}};
  for (const auto& member : members_) {
    char label[kLabelDigits];
    hex_label(member.label, label);
    ptr.owner = zones_name_;
    ptr.owner.prepend_label(std::string_view(label, kLabelDigits));
    const auto name = member.name(names_);
    ptr.rdata.assign(name.begin(), name.end());
    append_record(version.records, ptr);
  }
  return version;
}

const CatalogZone::Member* CatalogZone::find_label(std::string_view label) const {
  auto value = parse_hex_label(label);
  if (!value) return nullptr;
  auto it = std::lower_bound(members_.begin(), members_.end(), *value,
                             [](const Member& member, uint64_t v) { return member.label < v; });
  return it != members_.end() && it->label == *value ? &*it : nullptr;
}

void CatalogZone::answer_negative(dns::ResponseWriter& response, dns::Rcode rcode) const {
  response.start(rcode, true);
  dns::add_negative_soa(response, apex_, kTtl, soa_rdata_);
}

void CatalogZone::answer(const dns::Request& request, dns::ResponseWriter& response) const {
  const dns::Name& qname = request.question.name;
  const uint16_t qtype = request.question.type;
  const dns::Name& owner = request.question.original;
  auto positive = [&](uint16_t type, std::span<const uint8_t> rdata) {
    if (qtype != type) return answer_negative(response, dns::Rcode::NoError);
    response.start(dns::Rcode::NoError, true);
    response.add(dns::Section::Answer, dns::RecordRef{owner, type, dns::rrclass::IN, kTtl, rdata});
  };
  if (qname == apex_) {
    if (qtype == dns::rrtype::NS) return positive(dns::rrtype::NS, ns_rdata_);
    return positive(dns::rrtype::SOA, soa_rdata_);
  }
  if (qname == version_name_) return positive(dns::rrtype::TXT, version_rdata_);
  if (qname == zones_name_) return answer_negative(response, dns::Rcode::NoError);  // an empty non-terminal
  if (qname.label_count() == zones_name_.label_count() + 1 && qname.parent() == zones_name_) {
    if (const Member* member = find_label(qname.first_label())) return positive(dns::rrtype::PTR, member->name(names_));
  }
  answer_negative(response, dns::Rcode::NXDomain);
}

}  // namespace stsd::transfer
