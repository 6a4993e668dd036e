#pragma once
// The acl plugin's rules: who (address prefixes) may ask what (query types), checked in
// order, the first rule that matches deciding. Parsed once at load; the query path only
// reads them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "config.h"
#include "net/prefix.h"

namespace stsd::acl {

enum class Action : uint8_t {
  Allow,  // pass the query on: later rules are not consulted
  Deny,   // REFUSED with an Extended DNS Error 18 "Prohibited" (RFC 8914 §4.19)
  Drop,   // no answer at all
};

struct Rule {
  Action action = Action::Allow;
  std::vector<net::AddressPrefix> from;  // empty: any address
  std::vector<uint16_t> types;           // empty: any query type
  std::string refusal_text;              // RFC 8914 EXTRA-TEXT of a deny, made at load

  bool matches(const boost::asio::ip::address& client, std::optional<uint16_t> qtype) const;
};

// The first rule that matches a query from `client` for `qtype` (nullopt when the query
// carries no question: only rules without `types` match it); null when none does.
const Rule* first_match(const std::vector<Rule>& rules, const boost::asio::ip::address& client,
                        std::optional<uint16_t> qtype);

// The `rules` list of the plugin's section (`acl: {}` has none). Errors name the file,
// line and key of the entry at fault.
std::vector<Rule> parse_rules(const ConfigNode& section);

}  // namespace stsd::acl
