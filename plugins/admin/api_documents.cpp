#include "api_documents.h"

#include <ctime>

#include "api.h"
#include "api_request.h"
#include "utc_time.h"

namespace stsd::admin {

using namespace stsd::store;  // the API speaks the store's vocabulary throughout

using nlohmann::json;

json diagnostics_json(const std::vector<Diagnostic>& diagnostics) {
  json out = json::array();
  for (const auto& d : diagnostics) {
    json item = {{"message", d.message}};
    if (d.line > 0) item["line"] = d.line;
    out.push_back(item);
  }
  return out;
}

std::string diagnostics_text(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const auto& d : diagnostics) {
    if (!text.empty()) text += "; ";
    if (d.line > 0) text += "line " + std::to_string(d.line) + ": ";
    text += d.message;
  }
  return text;
}

json version_json(const PolicyVersion& version) {
  return {
      {"version", version.number},
      {"mode", std::string(mode_name(version.policy.mode))},
      {"mx", version.policy.mx},
      {"max_age", version.policy.max_age},
      {"created_at", iso8601(version.created_at)},
      {"digest", version.digest},
  };
}

json event_json(const Event& event) {
  return {
      {"seq", event.seq},       {"at", iso8601(event.at)},
      {"kind", event.kind},     {"version", event.version == 0 ? json() : json(event.version)},
      {"detail", event.detail},
  };
}

namespace {

// The background verification of the store's table files (src/store/checksum_verification.h).
json checksums_json(const ChecksumCheck& check) {
  return {
      {"state", checksum_state_name(check.state)},
      {"at", check.at ? json(iso8601(check.at)) : json()},
      {"files", check.files},
      {"bytes", check.bytes},
      {"verified_files", check.verified_files},
      {"verified_bytes", check.verified_bytes},
      {"seconds", check.state == ChecksumCheck::State::verifying ? json() : json(check.seconds)},
      {"file", check.file.empty() ? json() : json(check.file)},
  };
}

}  // namespace

json health_json(const StoreHealth& health) {
  const auto text_or_null = [](const std::string& text) { return text.empty() ? json() : json(text); };
  return {
      {"writable", health.writable},
      {"reason", text_or_null(health.reason)},
      {"failed_since", health.failed_since ? json(iso8601(health.failed_since)) : json()},
      {"read_only", health.read_only},
      {"free_bytes", health.free_bytes ? json(*health.free_bytes) : json()},
      {"min_free_bytes", health.min_free_bytes},
      {"torn_wal", text_or_null(health.torn_wal)},
      {"failed_writes", health.failed_writes},
      {"refused_writes", health.refused_writes},
      {"recoveries", health.recoveries},
      {"checksums", checksums_json(health.checksums)},
  };
}

json settings_json(const DomainSettings& settings) {
  return {
      {"tlsrpt_rua", settings.tlsrpt_rua},
      {"tlsrpt_record", settings.tlsrpt_rua.empty() ? json() : json(tlsrpt_record(settings.tlsrpt_rua))},
      {"vantages", settings.vantages},
  };
}

json retirement_json(const Retirement& retirement) {
  json out = {{"since", iso8601(retirement.since)},
              {"reason", retirement.reason},
              {"version", retirement.version},
              {"state", retirement.removal ? "scheduled" : "waiting_for_confirmation"},
              {"remove_at", nullptr},
              {"longest_cached", nullptr}};
  if (const auto& removal = retirement.removal) {
    out["remove_at"] = iso8601(removal->until);
    if (removal->version != 0)
      out["longest_cached"] = {{"version", removal->version},
                               {"max_age", removal->max_age},
                               {"served_until", iso8601(removal->served_until)}};
  }
  return out;
}

json status_json(const PolicyStore& state, const AdminExtensions& hooks, const std::string& domain, int64_t now,
                 size_t event_count) {
  auto status = state.status(domain, now);
  if (!status) throw HttpError{404, domain + " is not in the store"};
  json out = {
      {"domain", status->domain},
      {"created_at", iso8601(status->created_at)},
      {"settings", settings_json(status->settings)},
      {"staged", status->staged ? version_json(*status->staged) : json()},
      {"confirmed", status->confirmed ? version_json(*status->confirmed) : json()},
      {"pending", is_pending(status->staged, status->confirmed)},
      {"now", iso8601(now)},
      {"rotation_seconds", state.rotation().count()},
  };
  if (status->confirmation) {
    out["confirmation"] = json{{"version", status->confirmation->version},
                               {"at", iso8601(status->confirmation->at)},
                               {"manual", status->confirmation->manual},
                               {"reason", status->confirmation->reason}};
  } else {
    out["confirmation"] = nullptr;
  }
  out["hold"] = status->hold ? json{{"reason", status->hold->reason}, {"since", iso8601(status->hold->since)}} : json();
  if (status->served_id.empty()) {
    out["served_id"] = nullptr;
    out["txt"] = nullptr;
  } else {
    out["served_id"] = status->served_id;
    out["txt"] = "v=STSv1; id=" + status->served_id + ";";
  }
  out["next_rotation"] = status->next_rotation == 0 ? json() : json(iso8601(status->next_rotation));
  out["rotation_offset_seconds"] = status->rotation_offset;
  out["rotate_until"] = status->rotate_until ? json(iso8601(*status->rotate_until)) : json();
  out["rotation_held"] = status->rotation_held;
  out["rotation_held_since"] = status->rotation_held ? json(iso8601(status->rotation_held_since)) : json();
  out["retirement"] = status->retirement ? retirement_json(*status->retirement) : json();
  json events = json::array();
  if (event_count > 0) {
    for (const auto& event : state.events(domain, event_count)) events.push_back(event_json(event));
  }
  out["events"] = events;
  json extensions = json::object();
  for (const auto& [name, section] : hooks.status_sections()) extensions[name] = section(domain);
  out["extensions"] = extensions;
  return out;
}

}  // namespace stsd::admin
