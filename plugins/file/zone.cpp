#include "zone.h"

#include <array>
#include <stdexcept>

#include "dns/rdata.h"

namespace stsd::file {
namespace {
using dns::Name;
using dns::Rcode;
using dns::Section;
namespace rrtype = dns::rrtype;

// CNAME records followed within one answer. Resolvers cap chains themselves (Unbound
// at 8, BIND at 16); a longer chain inside one zone is a mistake, and the cap also
// ends loops that the seen-list does not catch (wildcard CNAMEs).
constexpr size_t kMaxCnameChain = 8;

// Where the target name sits inside rdata of the types whose answers get additional
// A/AAAA records (RFC 1035 §3.3.9, §3.3.11; RFC 2782). SIZE_MAX: no target.
size_t target_offset(uint16_t type) {
  switch (type) {
    case rrtype::NS:
      return 0;
    case rrtype::MX:
      return 2;
    case rrtype::SRV:
      return 6;
    default:
      return SIZE_MAX;
  }
}
}  // namespace

Zone::Zone(Name apex, NodeMap nodes) : apex_(apex.lowered()), nodes_(std::move(nodes)) {
  apex_labels_ = apex_.label_count();
  apex_node_ = find(apex_);
  if (!apex_node_) throw std::logic_error("zone built without an apex node");
  soa_ = apex_node_->find(rrtype::SOA);
  if (!soa_ || soa_->rdatas.size() != 1) throw std::logic_error("zone built without exactly one SOA");
}

uint32_t Zone::serial() const {
  const auto& rdata = soa_->rdatas.front();
  if (rdata.size() < 22) return 0;  // two names (at least the root each) and five numbers
  const uint8_t* p = rdata.data() + rdata.size() - 20;
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

Zone::Found Zone::find_name(const Name& qname, bool ds_query) const {
  const size_t qlabels = qname.label_count();
  const Name* closest_name = &apex_;
  const Node* closest = apex_node_;
  for (size_t labels = apex_labels_ + 1; labels <= qlabels; ++labels) {
    const Name candidate = qname.parent(qlabels - labels);
    auto it = nodes_.find(candidate);
    if (it == nodes_.end()) {
      // RFC 4592 §3.3.1: the closest encloser is the deepest existing ancestor (empty
      // non-terminals count); only its `*` child may synthesize an answer, so a
      // wildcard never reaches across a name that exists.
      Name wildcard = *closest_name;
      if (wildcard.prepend_label("*")) {
        auto source = nodes_.find(wildcard);
        if (source != nodes_.end()) return {Match::Wildcard, &source->first, &source->second};
      }
      return {Match::NxDomain, closest_name, closest};
    }
    // The first cut on the way down wins: everything below it is the child's.
    if (it->second.delegation && !(ds_query && labels == qlabels)) return {Match::Delegation, &it->first, &it->second};
    closest_name = &it->first;
    closest = &it->second;
  }
  return {Match::Exact, closest_name, closest};
}

void Zone::add_rrset(dns::ResponseWriter& response, Section section, const Name& owner, const RRset& rrset) const {
  for (const auto& rdata : rrset.rdatas)
    if (!response.add(section, dns::RecordRef{owner, rrset.type, dns::rrclass::IN, rrset.ttl, rdata})) return;
}

void Zone::add_negative(dns::ResponseWriter& response) const {
  // RFC 2308 §3: the SOA in authority, its TTL capped by the SOA MINIMUM.
  dns::add_negative_soa(response, apex_, soa_->ttl, soa_->rdatas.front());
}

void Zone::add_addresses(dns::ResponseWriter& response, std::span<const uint8_t> target_wire, bool for_referral,
                         bool required) const {
  auto target = Name::from_wire(target_wire);
  if (!target) return;
  const Name lowered = target->lowered();
  if (!lowered.is_subdomain_of(apex_)) return;  // not ours to vouch for
  const Node* node = find(lowered);
  if (!node || (node->glue && !for_referral)) return;
  for (uint16_t type : {rrtype::A, rrtype::AAAA}) {
    const RRset* rrset = node->find(type);
    if (!rrset) continue;
    for (const auto& rdata : rrset->rdatas)
      response.add(Section::Additional, dns::RecordRef{*target, type, dns::rrclass::IN, rrset->ttl, rdata}, required);
  }
}

void Zone::add_referral(dns::ResponseWriter& response, const Name& cut, const Node& cut_node) const {
  const RRset* ns = cut_node.find(rrtype::NS);
  if (!ns) return;
  add_rrset(response, Section::Authority, cut, *ns);
  for (const auto& rdata : ns->rdatas) {
    auto target = Name::from_wire(rdata);
    if (!target) continue;
    // RFC 9471 §3: glue for name servers inside the delegated zone is required (the
    // referral cannot be followed without it): TC when it does not fit. Sibling glue
    // elsewhere in this zone is optional.
    const bool in_bailiwick = target->is_subdomain_of(cut);
    add_addresses(response, rdata, true, in_bailiwick);
  }
}

void Zone::add_additional(dns::ResponseWriter& response, const RRset& answer) const {
  // Addresses of the names an NS, MX or SRV answer points to (RFC 1035 §3.3.9, RFC 2782),
  // each name once; never required.
  const size_t offset = target_offset(answer.type);
  if (offset == SIZE_MAX) return;
  for (size_t i = 0; i < answer.rdatas.size(); ++i) {
    const auto& rdata = answer.rdatas[i];
    if (rdata.size() <= offset) continue;
    const std::span<const uint8_t> target(rdata.data() + offset, rdata.size() - offset);
    bool repeated = false;
    for (size_t j = 0; j < i && !repeated; ++j) {
      const auto& earlier = answer.rdatas[j];
      repeated =
          earlier.size() > offset && dns::wire_names_equal({earlier.data() + offset, earlier.size() - offset}, target);
    }
    if (!repeated) add_addresses(response, target, false, false);
  }
}

void Zone::answer(const dns::Request& request, dns::ResponseWriter& response) const {
  const auto& question = request.question;
  const uint16_t qtype = question.type;

  const Found found = find_name(question.name, qtype == rrtype::DS);
  if (found.match == Match::Delegation) {
    // RFC 1034 §4.3.2 step 3b: a referral is not authoritative.
    response.start(Rcode::NoError, false);
    add_referral(response, *found.node_name, *found.node);
    return;
  }
  if (found.match == Match::NxDomain) {
    response.start(Rcode::NXDomain, true);
    add_negative(response);
    return;
  }

  response.start(Rcode::NoError, true);
  // An exact match and a wildcard synthesis both answer with the qname as owner
  // (RFC 4592 §3.3.1), in the letter case the client used.
  const Name* owner = &question.original;
  Name chain_owner;                           // the current CNAME target, as written
  std::array<Name, kMaxCnameChain> followed;  // lowercased targets seen (loop guard)
  size_t followed_count = 0;
  const Node* node = found.node;

  for (size_t step = 0;; ++step) {
    // RFC 8482 §4.1: ANY gets one RRset, which tells the client that the name exists and
    // keeps ANY from amplifying. As Knot: the RRset of the lowest type at the name, with
    // the additional records of that type, the same over UDP and TCP. Never CNAME-chased.
    const RRset* rrset = qtype != rrtype::ANY   ? node->find(qtype)
                         : node->rrsets.empty() ? nullptr
                                                : &node->rrsets.front();
    if (rrset) {
      add_rrset(response, Section::Answer, *owner, *rrset);
      add_additional(response, *rrset);
      return;
    }

    const RRset* cname = node->find(rrtype::CNAME);
    if (!cname || qtype == rrtype::CNAME) {
      // NODATA, including empty non-terminals (RFC 8020 §2), RFC 2308 §2.2.
      add_negative(response);
      return;
    }

    // RFC 1034 §3.6.2 / §4.3.2 step 3a: the alias, then what it points to, as long
    // as that is in this zone.
    add_rrset(response, Section::Answer, *owner, *cname);
    if (step + 1 >= kMaxCnameChain) return;
    auto target = Name::from_wire(cname->rdatas.front());
    if (!target) return;
    const Name lowered = target->lowered();
    if (!lowered.is_subdomain_of(apex_)) return;  // the resolver continues elsewhere
    if (lowered == question.name) return;         // loop back to the qname
    for (size_t i = 0; i < followed_count; ++i)
      if (followed[i] == lowered) return;  // loop inside the chain
    followed[followed_count++] = lowered;

    const Found next = find_name(lowered, qtype == rrtype::DS);
    switch (next.match) {
      case Match::Delegation:
        // The target lies in a delegated child: hand over with the referral.
        add_referral(response, *next.node_name, *next.node);
        return;
      case Match::NxDomain:
        // RFC 6604 §3: the rcode describes the last name in the chain.
        response.set_rcode(Rcode::NXDomain);
        add_negative(response);
        return;
      case Match::Exact:
      case Match::Wildcard:
        chain_owner = *target;
        owner = &chain_owner;
        node = next.node;
        break;
    }
  }
}

const Zone* pick_zone(std::span<const std::shared_ptr<const Zone>> zones, const Name& qname, uint16_t qtype) {
  const Zone* best = nullptr;
  const Zone* apex_of_child = nullptr;
  const size_t qlabels = qname.label_count();
  for (const auto& zone : zones) {
    if (!qname.is_subdomain_of(zone->apex())) continue;
    if (qtype == rrtype::DS && zone->apex_labels() == qlabels) {
      apex_of_child = zone.get();
      continue;
    }
    if (!best || zone->apex_labels() > best->apex_labels()) best = zone.get();
  }
  return best ? best : apex_of_child;
}

}  // namespace stsd::file
