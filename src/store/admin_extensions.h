#pragma once
// Extension points of the admin API for other services of the process: the confirmer adds
// an MX coverage check to staging, what its last round saw to manual confirmation, its
// probe state to `status`, and its own per-domain
// endpoints such as `check`; the policy host adds its certificate to `status`. Register
// during set-up (from a service's start); the admin thread calls the extensions. An
// extension reports bad input by throwing PolicyError (-> 400).
//
// It lives in the store layer so that services register here without including another
// plugin's headers; the admin API reads what was registered.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "environment.h"
#include "store/errors.h"
#include "store/policy.h"

namespace stsd::store {

class AdminExtensions {
 public:
  // The process-wide instance (shared key "store.admin_extensions").
  static std::shared_ptr<AdminExtensions> get(Environment& env) {
    return env.shared<AdminExtensions>("store.admin_extensions", [] { return std::make_shared<AdminExtensions>(); });
  }

  // Runs before a policy is staged through the API (not for `import`, which is for
  // migrations of policies already served); returns problems in plain words. Any problem
  // refuses the stage unless the request says `"force": true`.
  using StageCheck = std::function<std::vector<std::string>(const std::string& domain, const Policy& policy)>;
  // Runs before a manual confirmation through the API (`stsctl policy confirm`); returns
  // problems in plain words (e.g. a vantage that was seen serving another version). Any
  // problem refuses the confirmation unless the request says `"force": true`; the
  // confirmation's event then records what was forced past.
  using ConfirmCheck = std::function<std::vector<std::string>(const std::string& domain, uint32_t version)>;
  // Adds a section to GET .../status under "extensions": {name: value}. A value with
  // "lines": [strings] is printed by `stsctl status` under the section's name.
  using StatusSection = std::function<nlohmann::json(const std::string& domain)>;
  // Serves METHOD /v1/domains/{domain}/{name} for a domain in the store; returns the
  // JSON answer (200). `body` is null for requests without one.
  using DomainRoute = std::function<nlohmann::json(const std::string& domain, const nlohmann::json& body)>;

  void add_stage_check(StageCheck check) {
    std::lock_guard lock(mutex_);
    stage_checks_.push_back(std::move(check));
  }
  void add_confirm_check(ConfirmCheck check) {
    std::lock_guard lock(mutex_);
    confirm_checks_.push_back(std::move(check));
  }
  void add_status_section(std::string name, StatusSection section) {
    std::lock_guard lock(mutex_);
    status_sections_.emplace_back(std::move(name), std::move(section));
  }
  void add_domain_route(std::string method, std::string name, DomainRoute route) {
    std::lock_guard lock(mutex_);
    domain_routes_.push_back({std::move(method), std::move(name), std::move(route)});
  }

  // Serves METHOD /v1/{name}: a route of its own, outside any domain (a built-in route
  // of the same path wins). The body is handed over as sent, with its media type
  // (Content-Type without parameters, lower case); a body of a type not in `media_types`
  // is refused with 415 before the route runs. The route answers with any status.
  struct ApiCall {
    std::string method;
    std::unordered_map<std::string, std::string> query;  // percent-decoded
    const std::string& body;
    std::string media_type;
  };
  struct ApiReply {
    unsigned status = 200;
    nlohmann::json body;
    std::vector<std::pair<std::string, std::string>> headers = {};
  };
  using ApiRoute = std::function<ApiReply(const ApiCall& call)>;
  void add_api_route(std::string method, std::string name, std::vector<std::string> media_types, ApiRoute route) {
    std::lock_guard lock(mutex_);
    api_routes_.push_back({std::move(method), std::move(name), std::move(media_types), std::move(route)});
  }

  struct Route {
    std::string method;
    std::string name;
    DomainRoute handler;
  };
  std::vector<StageCheck> stage_checks() const {
    std::lock_guard lock(mutex_);
    return stage_checks_;
  }
  std::vector<ConfirmCheck> confirm_checks() const {
    std::lock_guard lock(mutex_);
    return confirm_checks_;
  }
  std::vector<std::pair<std::string, StatusSection>> status_sections() const {
    std::lock_guard lock(mutex_);
    return status_sections_;
  }
  std::vector<Route> domain_routes() const {
    std::lock_guard lock(mutex_);
    return domain_routes_;
  }
  struct OwnRoute {
    std::string method;
    std::string name;
    std::vector<std::string> media_types;
    ApiRoute handler;
  };
  std::vector<OwnRoute> api_routes() const {
    std::lock_guard lock(mutex_);
    return api_routes_;
  }
  // Whether some route takes bodies of `media_type` (the transport lets them through).
  bool takes_media_type(std::string_view media_type) const {
    std::lock_guard lock(mutex_);
    for (const auto& route : api_routes_)
      for (const auto& type : route.media_types)
        if (type == media_type) return true;
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<StageCheck> stage_checks_;
  std::vector<ConfirmCheck> confirm_checks_;
  std::vector<std::pair<std::string, StatusSection>> status_sections_;
  std::vector<Route> domain_routes_;
  std::vector<OwnRoute> api_routes_;
};

}  // namespace stsd::store
