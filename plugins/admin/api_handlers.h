#pragma once
// The handlers of the admin API's routes (the table in api_routes.cpp says which serves
// which verb and path). A handler gets the request already matched and checked: its
// {domain} is normalized and in the store, its body read as the route declares.
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "api.h"
#include "api_request.h"
#include "store/admin_extensions.h"
#include "store/policy_store.h"

namespace stsd::admin {

// "{name}" of the route's pattern -> the percent-decoded path segment it matched.
using Captures = std::map<std::string, std::string, std::less<>>;

struct Call {
  const ApiRequest& request;
  const Target& target;
  store::PolicyStore& state;
  const store::AdminExtensions& hooks;
  Captures captures;
  std::string domain;   // the {domain} capture, normalized and in the store; else empty
  nlohmann::json body;  // the JSON object body; null for routes without one

  int64_t now() const { return store::unix_seconds(state.clock().now()); }
};

// api_domains.cpp: the store as a whole (and its backup) and one domain (its removal and
// retirement).
ApiResponse handle_server(const Call& call);         // GET    /v1/server
ApiResponse handle_backup(const Call& call);         // POST   /v1/backup
ApiResponse handle_list_domains(const Call& call);   // GET    /v1/domains
ApiResponse handle_add_domain(const Call& call);     // POST   /v1/domains
ApiResponse handle_status(const Call& call);         // GET    /v1/domains/{domain}[/status]
ApiResponse handle_remove_domain(const Call& call);  // DELETE /v1/domains/{domain}[?force=true]
ApiResponse handle_retire(const Call& call);         // POST   /v1/domains/{domain}/retirement
ApiResponse handle_unretire(const Call& call);       // DELETE /v1/domains/{domain}/retirement
ApiResponse handle_events(const Call& call);         // GET    /v1/domains/{domain}/events
ApiResponse handle_get_settings(const Call& call);   // GET    /v1/domains/{domain}/settings
ApiResponse handle_put_settings(const Call& call);   // PUT    /v1/domains/{domain}/settings

// api_policies.cpp: a domain's policy versions.
ApiResponse handle_stage(const Call& call);           // POST   /v1/domains/{domain}/policies
ApiResponse handle_version(const Call& call);         // GET    /v1/domains/{domain}/policies/{version}
ApiResponse handle_current_policy(const Call& call);  // GET    /v1/domains/{domain}/policy
ApiResponse handle_confirm(const Call& call);         // POST   /v1/domains/{domain}/confirm

// api_import.cpp: bulk add and stage.
ApiResponse handle_import(const Call& call);  // POST   /v1/import

}  // namespace stsd::admin
