#include "acl_rules.h"

#include <algorithm>

#include "dns/types.h"

namespace stsd::acl {

bool Rule::matches(const boost::asio::ip::address& client, std::optional<uint16_t> qtype) const {
  if (!from.empty() &&
      std::none_of(from.begin(), from.end(), [&](const net::AddressPrefix& p) { return p.contains(client); }))
    return false;
  if (types.empty()) return true;
  return qtype && std::find(types.begin(), types.end(), *qtype) != types.end();
}

const Rule* first_match(const std::vector<Rule>& rules, const boost::asio::ip::address& client,
                        std::optional<uint16_t> qtype) {
  for (const Rule& rule : rules)
    if (rule.matches(client, qtype)) return &rule;
  return nullptr;
}

namespace {

Action parse_action(const ConfigNode& node) {
  const std::string text = node.as_string();
  if (text == "allow") return Action::Allow;
  if (text == "deny") return Action::Deny;
  if (text == "drop") return Action::Drop;
  node.fail("unknown action '" + text + "' (known actions: allow, deny, drop)");
}

// A list written empty matches nothing, so its rule could never apply: more likely a
// mistake than intent, and leaving the key out already means "any".
std::vector<ConfigNode> non_empty_items(const ConfigNode& node, std::string_view what) {
  auto items = node.items();
  if (items.empty()) node.fail("empty list; leave the key out to match " + std::string(what));
  return items;
}

std::vector<net::AddressPrefix> parse_from(const ConfigNode& node) {
  std::vector<net::AddressPrefix> prefixes;
  for (const ConfigNode& item : non_empty_items(node, "any address")) {
    const std::string text = item.as_string();
    auto prefix = net::parse_prefix(text);
    if (!prefix) item.fail(net::prefix_refusal(text));
    prefixes.push_back(*prefix);
  }
  return prefixes;
}

std::vector<uint16_t> parse_types(const ConfigNode& node) {
  std::vector<uint16_t> types;
  for (const ConfigNode& item : non_empty_items(node, "any query type")) {
    const std::string text = item.as_string();
    auto type = dns::type_from_string(text);
    if (!type) item.fail("'" + text + "' is not a record type (a mnemonic such as TXT or AXFR, or TYPE<number>)");
    types.push_back(*type);
  }
  return types;
}

Rule parse_rule(const ConfigNode& item, size_t index) {
  if (!item.is_map()) item.fail("expected a rule, e.g. `- {action: deny, from: [192.0.2.0/24], types: [AXFR]}`");
  item.expect_map({"action", "from", "types"});
  Rule rule;
  rule.action = parse_action(item.require("action"));
  if (auto from = item.get("from")) rule.from = parse_from(*from);
  if (auto types = item.get("types")) rule.types = parse_types(*types);
  // Names the rule as config errors do (rules[0] is the first), for whoever debugs a refusal.
  rule.refusal_text = "denied by acl rules[" + std::to_string(index) + "]";
  return rule;
}

}  // namespace

std::vector<Rule> parse_rules(const ConfigNode& section) {
  section.expect_map({"rules"});
  std::vector<Rule> rules;
  auto list = section.get("rules");
  if (!list || list->is_null()) return rules;
  if (!list->is_sequence()) list->fail("expected a list of rules, e.g. `- {action: deny, types: [AXFR, IXFR]}`");
  const auto items = list->items();
  for (size_t i = 0; i < items.size(); ++i) rules.push_back(parse_rule(items[i], i));
  return rules;
}

}  // namespace stsd::acl
