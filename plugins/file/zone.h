#pragma once
// An authoritative zone held in memory, immutable once built, and the lookup that
// answers from it (RFC 1034 §4.3.2, in the staged style of Knot's internet.c:
// find the name, then answer, authority and additional sections).
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/writer.h"

namespace stsd::file {

// All records of one type at one name. Rdata is uncompressed wire form.
struct RRset {
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<std::vector<uint8_t>> rdatas;

  friend bool operator==(const RRset&, const RRset&) = default;
};

// One name of the zone. A node without rrsets is an empty non-terminal (RFC 8020 §2):
// it exists, so queries for it get NODATA and wildcards above it do not apply.
struct Node {
  std::vector<RRset> rrsets;  // sorted by type
  bool delegation = false;    // NS below the apex: a zone cut (RFC 1034 §4.2.1)
  bool glue = false;          // strictly below a cut: addresses for referrals only

  friend bool operator==(const Node&, const Node&) = default;

  const RRset* find(uint16_t type) const {
    for (const auto& rrset : rrsets)
      if (rrset.type == type) return &rrset;
    return nullptr;
  }
};

class Zone {
 public:
  using NodeMap = std::unordered_map<dns::Name, Node, dns::NameHash>;

  // `nodes` keys are lowercased and include every empty non-terminal; the apex node
  // holds exactly one SOA and at least one NS (the loader checks this).
  Zone(dns::Name apex, NodeMap nodes);
  Zone(const Zone&) = delete;
  Zone& operator=(const Zone&) = delete;

  const dns::Name& apex() const { return apex_; }
  size_t apex_labels() const { return apex_labels_; }
  const Node* find(const dns::Name& lowered) const {
    auto it = nodes_.find(lowered);
    return it == nodes_.end() ? nullptr : &it->second;
  }
  size_t node_count() const { return nodes_.size(); }
  const RRset& soa() const { return *soa_; }
  // The SOA's SERIAL field (RFC 1035 §3.3.13: the 20 octets after the two names).
  uint32_t serial() const;
  // Every node, for listing the zone whole (zone transfers); not for answering.
  const NodeMap& nodes() const { return nodes_; }

  // Answers `request` (class IN, qname at or below the apex) into `response`, which
  // the caller has begun. Allocation-free and exception-free.
  void answer(const dns::Request& request, dns::ResponseWriter& response) const;

 private:
  enum class Match : uint8_t { Exact, Wildcard, Delegation, NxDomain };
  struct Found {
    Match match = Match::NxDomain;
    const dns::Name* node_name = nullptr;  // the map key (exact match or zone cut)
    const Node* node = nullptr;            // the matched, wildcard or cut node
  };
  // RFC 1034 §4.3.2 step 3 / RFC 4592 §3.3.1: walks down from the apex towards
  // `qname` (lowercased), stopping at the first zone cut, and falls back to the
  // wildcard at the closest encloser when the name does not exist. With
  // `ds_query`, a cut at qname itself is not a referral: DS lives on the parent side
  // of the cut (RFC 4035 §3.1.4.1).
  Found find_name(const dns::Name& qname, bool ds_query) const;

  void add_referral(dns::ResponseWriter& response, const dns::Name& cut, const Node& cut_node) const;
  void add_negative(dns::ResponseWriter& response) const;
  // A and AAAA of `target` when it is a name of this zone (additional section).
  // Glue below a cut is used only for referrals (`for_referral`): it is not our data.
  void add_addresses(dns::ResponseWriter& response, std::span<const uint8_t> target_wire, bool for_referral,
                     bool required) const;
  void add_rrset(dns::ResponseWriter& response, dns::Section section, const dns::Name& owner, const RRset& rrset) const;
  // The additional section an answer of `answer`'s type gets (addresses of its targets).
  void add_additional(dns::ResponseWriter& response, const RRset& answer) const;

  dns::Name apex_;
  size_t apex_labels_ = 0;
  NodeMap nodes_;
  const Node* apex_node_ = nullptr;
  const RRset* soa_ = nullptr;
};

// Longest-suffix choice among several zones (a DS query for a zone's apex goes to the
// parent zone when we also serve it, RFC 4035 §3.1.4.1). nullptr when none encloses.
const Zone* pick_zone(std::span<const std::shared_ptr<const Zone>> zones, const dns::Name& qname, uint16_t qtype);

}  // namespace stsd::file
