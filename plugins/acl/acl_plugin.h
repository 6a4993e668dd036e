#pragma once
#include <memory>
#include <string_view>
#include <vector>

#include "acl_rules.h"
#include "plugin.h"
#include "registry.h"

namespace stsd::acl {

// Allows, refuses or drops queries by source address and query type, before any plugin
// that answers sees them (chain order: plugins/CMakeLists.txt). A query no rule matches
// goes on down the chain.
class AclPlugin final : public Plugin {
 public:
  explicit AclPlugin(std::vector<Rule> rules) : rules_(std::move(rules)) {}
  std::string_view name() const override { return "acl"; }
  void serve(Query& query, Next next) const override;

  const std::vector<Rule>& rules() const { return rules_; }

 private:
  const std::vector<Rule> rules_;
};

// `acl: {}` (no rules: every query passes) or `acl: { rules: [...] }`.
std::unique_ptr<Plugin> make_acl_plugin(PluginSetup& setup);

}  // namespace stsd::acl

void stsd_register_acl(stsd::Registry& registry);
