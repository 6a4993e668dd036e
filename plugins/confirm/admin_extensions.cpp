#include "admin_extensions.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "store/admin_extensions.h"

namespace stsd::confirm {

namespace {

// `stsctl policy stage` (issue 4): an enforce policy must cover every current MX host.
std::vector<std::string> stage_problems(ConfirmApi& confirm, const std::string& domain, const store::Policy& policy) {
  std::vector<std::string> problems;
  if (policy.mode != store::Mode::Enforce) return problems;
  auto coverage = confirm.check_mx_coverage(domain, policy.mx);
  if (!coverage.acceptable()) problems.push_back(coverage.problem());
  return problems;
}

// `stsctl status`: the probe state and the next rotation in plain words ("lines").
nlohmann::json status_section(ConfirmApi& confirm, const std::string& domain) {
  auto probe = confirm.probe_status(domain);
  if (!probe) return nlohmann::json{{"lines", {"not watched yet (the confirmer looks at new domains within seconds)"}}};
  return *probe;
}

// `stsctl check DOMAIN`. A malformed or unknown domain is the caller's mistake: PolicyError,
// which the admin API answers with 400.
nlohmann::json check_route(ConfirmApi& confirm, const std::string& domain) {
  try {
    return confirm.run_check(domain);
  } catch (const std::invalid_argument& e) {
    throw store::PolicyError(e.what());
  }
}

}  // namespace

void register_admin_extensions(Environment& env, std::shared_ptr<ConfirmApi> confirm) {
  auto hooks = store::AdminExtensions::get(env);
  hooks->add_stage_check([confirm](const std::string& domain, const store::Policy& policy) {
    return stage_problems(*confirm, domain, policy);
  });
  hooks->add_confirm_check(
      [confirm](const std::string& domain, uint32_t version) { return confirm->confirm_problems(domain, version); });
  hooks->add_status_section("confirm",
                            [confirm](const std::string& domain) { return status_section(*confirm, domain); });
  hooks->add_domain_route("GET", "check", [confirm](const std::string& domain, const nlohmann::json&) {
    return check_route(*confirm, domain);
  });
}

}  // namespace stsd::confirm
