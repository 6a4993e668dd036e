#pragma once
// The JSON documents the admin API answers with, one builder per kind, so that every
// route shows a version, an event or a domain's status the same way (their fields are
// listed in plugins/admin/README.md).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/admin_extensions.h"
#include "store/policy_store.h"

namespace stsd::admin {

// [{"message", "line"?}] and "line 3: ...; ..." for the same diagnostics.
nlohmann::json diagnostics_json(const std::vector<store::Diagnostic>& diagnostics);
std::string diagnostics_text(const std::vector<store::Diagnostic>& diagnostics);

// "pending": a staged version newer than the confirmed one, or staged with nothing
// confirmed (for the store's PolicyVersion and the served index's ServedVersion alike).
template <class Version>
bool is_pending(const std::optional<Version>& staged, const std::optional<Version>& confirmed) {
  return staged && (!confirmed || staged->number > confirmed->number);
}

nlohmann::json version_json(const store::PolicyVersion& version);
nlohmann::json event_json(const store::Event& event);
nlohmann::json settings_json(const store::DomainSettings& settings);
// A retirement, as the status document shows it (README: "retirement").
nlohmann::json retirement_json(const store::Retirement& retirement);
// Whether the store accepts writes, and why not (README: "The store's state").
nlohmann::json health_json(const store::StoreHealth& health);

// The status document of `domain` at `now` with its `event_count` newest events and the
// sections other services add (AdminExtensions::add_status_section). HttpError 404 when the
// domain is not in the store.
nlohmann::json status_json(const store::PolicyStore& state, const store::AdminExtensions& hooks,
                           const std::string& domain, int64_t now, size_t event_count);

}  // namespace stsd::admin
