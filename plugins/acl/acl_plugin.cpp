// The `acl` plugin: first matching rule allows, refuses or drops.
#include "acl_plugin.h"

#include "dns/edns.h"

namespace stsd::acl {

void AclPlugin::serve(Query& query, Next next) const {
  const dns::Request& request = query.request;
  const std::optional<uint16_t> qtype =
      request.has_question ? std::optional<uint16_t>(request.question.type) : std::nullopt;
  const Rule* rule = first_match(rules_, request.client, qtype);
  if (!rule || rule->action == Action::Allow) return next(query);
  if (rule->action == Action::Drop) return query.response.drop();
  // RFC 8914 §4.19: "Prohibited", the server refuses by policy (an ACL); the option
  // travels only when the query had EDNS (RFC 6891 §7), as every EDNS option does.
  query.response.start(dns::Rcode::Refused, false);
  query.response.add_extended_error(dns::extended_error::Prohibited, rule->refusal_text);
}

std::unique_ptr<Plugin> make_acl_plugin(PluginSetup& setup) {
  return std::make_unique<AclPlugin>(parse_rules(setup.config));
}

}  // namespace stsd::acl

void stsd_register_acl(stsd::Registry& registry) { registry.add_plugin("acl", stsd::acl::make_acl_plugin); }
