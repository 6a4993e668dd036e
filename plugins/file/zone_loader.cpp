#include "zone_loader.h"

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/types.h"
#include "logging.h"
#include "master_file.h"

namespace stsd::file {
namespace {
using dns::Name;
namespace rrtype = dns::rrtype;

std::string type_name(uint16_t type) { return dns::type_to_string(type); }

// Types that describe queries or transactions, never zone data (RFC 6895 §3.1).
bool is_meta_type(uint16_t type) { return type == rrtype::OPT || (type >= 128 && type <= 255); }

// DNSSEC records that may sit beside a CNAME (RFC 4035 §2.5).
bool may_accompany_cname(uint16_t type) { return type == rrtype::RRSIG || type == rrtype::NSEC; }

// At a delegation point the parent holds only the cut's NS, DS, its DNSSEC records and
// glue addresses (RFC 4035 §2.4, RFC 9471).
bool allowed_at_cut(uint16_t type) {
  return type == rrtype::NS || type == rrtype::DS || type == rrtype::A || type == rrtype::AAAA ||
         type == rrtype::RRSIG || type == rrtype::NSEC;
}

bool is_wildcard(const Name& name) { return name.size() > 1 && name.first_label() == "*"; }

// The target of a CNAME/NS rdata, when well formed.
std::optional<Name> rdata_name(const std::vector<uint8_t>& rdata) { return Name::from_wire(rdata); }

struct BuildRRset {
  RRset rrset;
  Location first;
  bool ttl_warned = false;
};
struct BuildNode {
  std::vector<BuildRRset> rrsets;
  BuildRRset* find(uint16_t type) {
    for (auto& r : rrsets)
      if (r.rrset.type == type) return &r;
    return nullptr;
  }
};

std::shared_ptr<const Zone> build_zone(const Name& apex, const std::vector<SourceRecord>& records,
                                       const Location& end_of_file) {
  const std::string apex_text = apex.to_text();
  std::unordered_map<Name, BuildNode, dns::NameHash> nodes;
  const SourceRecord* soa = nullptr;

  for (const auto& record : records) {
    const std::string owner_text = record.owner.to_text();
    if (record.rclass != dns::rrclass::IN)
      fail(record.at,
           "class " + dns::class_to_string(record.rclass) + " at " + owner_text + ": zones are class IN only");
    if (!record.owner.is_subdomain_of(apex))
      fail(record.at, "owner " + owner_text + " is outside the zone " + apex_text);
    if (is_meta_type(record.type))
      fail(record.at, type_name(record.type) + " is a query or meta type and cannot appear in a zone");
    if (record.type == rrtype::DNAME)
      fail(record.at, "DNAME at " + owner_text + " is not supported by the file plugin");
    if (record.type == rrtype::SOA) {
      if (!(record.owner == apex)) fail(record.at, "SOA at " + owner_text + " is not at the zone apex " + apex_text);
      if (soa) fail(record.at, "second SOA record: a zone has exactly one (the first is at " + soa->at.text() + ")");
      soa = &record;
    }
    if (record.type == rrtype::NS && is_wildcard(record.owner))
      fail(record.at, "NS at the wildcard " + owner_text + " is not supported (RFC 4592 §4.2)");
    if (record.type == rrtype::CNAME || record.type == rrtype::NS) {
      if (!rdata_name(record.rdata)) fail(record.at, "malformed target name");
    }

    BuildNode& node = nodes[record.owner];
    // RFC 1034 §3.6.2 and RFC 2181 §10.1: an alias has one target and no other data.
    if (record.type == rrtype::CNAME) {
      for (const auto& other : node.rrsets) {
        if (other.rrset.type == rrtype::CNAME) {
          if (other.rrset.rdatas.front() != record.rdata)
            fail(record.at, "second CNAME at " + owner_text +
                                ": an alias has exactly one target (RFC 2181 §10.1); "
                                "the first is at " +
                                other.first.text());
        } else if (!may_accompany_cname(other.rrset.type)) {
          fail(record.at, "CNAME at " + owner_text + " cannot coexist with other data (RFC 1034 §3.6.2); the " +
                              type_name(other.rrset.type) + " record is at " + other.first.text());
        }
      }
    } else if (!may_accompany_cname(record.type)) {
      if (const BuildRRset* cname = node.find(rrtype::CNAME))
        fail(record.at, type_name(record.type) + " at " + owner_text + " conflicts with the CNAME at " +
                            cname->first.text() + " (RFC 1034 §3.6.2: an alias has no other data)");
    }

    BuildRRset* rrset = node.find(record.type);
    if (!rrset) {
      rrset = &node.rrsets.emplace_back();
      rrset->rrset.type = record.type;
      rrset->rrset.ttl = record.ttl;
      rrset->first = record.at;
    }
    if (record.ttl != rrset->rrset.ttl) {
      // RFC 2181 §5.2: an RRset has one TTL; receivers use the lowest.
      if (!rrset->ttl_warned)
        log::warn(record.at.text() + ": TTL " + std::to_string(record.ttl) + " differs from the " +
                  type_name(record.type) + " RRset's TTL at " + rrset->first.text() + "; using the lowest");
      rrset->ttl_warned = true;
      rrset->rrset.ttl = std::min(rrset->rrset.ttl, record.ttl);
    }
    // An RRset is a set (RFC 2181 §5): repeated records are kept once.
    auto& rdatas = rrset->rrset.rdatas;
    if (std::find(rdatas.begin(), rdatas.end(), record.rdata) == rdatas.end()) rdatas.push_back(record.rdata);
  }

  if (!soa) fail(end_of_file, "zone " + apex_text + " has no SOA record at its apex");
  auto apex_it = nodes.find(apex);
  if (!apex_it->second.find(rrtype::NS)) fail(soa->at, "zone apex " + apex_text + " has no NS records");

  // Zone cuts: NS anywhere below the apex.
  auto is_cut = [&](const Name& name) -> bool {
    if (name == apex) return false;
    auto it = nodes.find(name);
    return it != nodes.end() && it->second.find(rrtype::NS) != nullptr;
  };
  // RFC 1034 §4.2.1: below a cut the parent holds nothing but glue; anything else
  // there would silently never be served, so it is refused.
  const size_t apex_labels = apex.label_count();
  for (const auto& record : records) {
    const size_t labels = record.owner.label_count();
    for (size_t depth = apex_labels + 1; depth < labels; ++depth) {
      const Name ancestor = record.owner.parent(labels - depth);
      if (!is_cut(ancestor)) continue;
      if (record.type != rrtype::A && record.type != rrtype::AAAA)
        fail(record.at, type_name(record.type) + " at " + record.owner.to_text() + " lies below the delegation " +
                            ancestor.to_text() + " and would never be served; only glue (A/AAAA) belongs there");
      break;
    }
    if (is_cut(record.owner) && !allowed_at_cut(record.type))
      fail(record.at, type_name(record.type) + " at the delegation point " + record.owner.to_text() +
                          " belongs in the child zone; only NS, DS and glue belong here");
  }

  Zone::NodeMap final_nodes;
  final_nodes.reserve(nodes.size() * 2);
  for (auto& [name, build] : nodes) {
    Node node;
    for (auto& r : build.rrsets) node.rrsets.push_back(std::move(r.rrset));
    std::sort(node.rrsets.begin(), node.rrsets.end(), [](const RRset& a, const RRset& b) { return a.type < b.type; });
    node.delegation = is_cut(name);
    final_nodes.emplace(name, std::move(node));
  }
  // Empty non-terminals (RFC 8020 §2): every ancestor of a name exists.
  for (const auto& [name, build] : nodes) {
    (void)build;
    const size_t labels = name.label_count();
    for (size_t up = 1; labels - up > apex_labels; ++up) final_nodes.try_emplace(name.parent(up));
  }
  // Glue: names strictly below a cut.
  for (auto& [name, node] : final_nodes) {
    const size_t labels = name.label_count();
    for (size_t up = 1; labels - up > apex_labels; ++up) {
      if (is_cut(name.parent(up))) {
        node.glue = true;
        break;
      }
    }
  }
  return std::make_shared<const Zone>(apex, std::move(final_nodes));
}

}  // namespace

std::shared_ptr<const Zone> load_zone(const Name& apex, const std::filesystem::path& path, const ZoneFileRules& rules) {
  MasterFile source;
  const Name lowered = apex.lowered();
  read_master_file(path, lowered, rules, source);
  return build_zone(lowered, source.records, source.end);
}

}  // namespace stsd::file
