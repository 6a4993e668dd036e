// The admin API's routes for the store as a whole (server summary, domain list, adding a
// domain, a backup) and for one domain (status, events, settings, removal, retirement).
#include "api_documents.h"
#include "api_handlers.h"
#include "logging.h"
#include "utc_time.h"

namespace stsd::admin {

using namespace stsd::store;  // the API speaks the store's vocabulary throughout
namespace {

using nlohmann::json;

// One entry of GET /v1/domains; null when the domain was removed meanwhile.
json list_entry(const PolicyStore& state, const std::string& name) {
  auto served = state.served(name);
  if (!served) return json();
  return json{{"domain", name},
              {"staged", served->staged ? json(served->staged->number) : json()},
              {"confirmed", served->confirmed ? json(served->confirmed->number) : json()},
              {"pending", is_pending(served->staged, served->confirmed)},
              {"held", served->held_since.has_value()}};
}

// The settings a body changes, over `settings`; fields absent stay as they are.
DomainSettings settings_from_body(const Fields& fields, DomainSettings settings) {
  if (fields.has("tlsrpt_rua")) settings.tlsrpt_rua = fields.strings("tlsrpt_rua");
  if (fields.has("vantages")) settings.vantages = fields.strings("vantages");
  check_settings(settings);
  return settings;
}

DomainStatus current_status(const Call& call) {
  auto status = call.state.status(call.domain, call.now());
  if (!status) throw HttpError{404, call.domain + " is not in the store"};
  return *status;
}

}  // namespace

ApiResponse handle_server(const Call& call) {
  return {200, json{{"server", "stsd"},
                    {"version", STSD_VERSION},
                    {"schema", PolicyStore::kSchemaVersion},
                    {"domains", call.state.domain_count()},
                    {"rotation_seconds", call.state.rotation().count()},
                    {"store", health_json(call.state.health())},
                    {"now", iso8601(call.now())}}};
}

// A refused folder is the request's fault (400, 409); a full disk is RFC 4918 §11.5's 507
// Insufficient Storage; other failures (a read-only file system, I/O) are the server's (500).
unsigned backup_error_status(BackupError::Kind kind) {
  switch (kind) {
    case BackupError::Kind::BadFolder:
      return 400;
    case BackupError::Kind::FolderNotEmpty:
      return 409;
    case BackupError::Kind::NoSpace:
      return 507;
    case BackupError::Kind::Failed:
      break;
  }
  return 500;
}

ApiResponse handle_backup(const Call& call) {
  Fields fields(call.body, {"dir"});
  const std::string dir = fields.string("dir");
  try {
    const BackupResult backup = call.state.backup(dir);
    return {201, json{{"dir", backup.dir.string()},
                      {"domains", backup.domains},
                      {"event_seq", backup.event_seq},
                      {"bytes", backup.bytes},
                      {"files", backup.files},
                      {"seconds", backup.seconds}}};
  } catch (const BackupError& error) {
    const unsigned status = backup_error_status(error.kind());
    if (status >= 500) log::f(log::Level::Error, "admin: backup to %s failed: %s", dir.c_str(), error.what());
    throw HttpError{status, error.what(), status < 500 ? json{{"field", "dir"}} : json::object()};
  }
}

ApiResponse handle_list_domains(const Call& call) {
  const size_t limit = call.target.query_number("limit", kDefaultListPage, 1, kMaxListPage);
  // One more than a page tells whether another page follows.
  std::vector<std::string> page = call.state.domains(call.target.query_text("after"), limit + 1);
  const bool more = page.size() > limit;
  if (more) page.resize(limit);
  json list = json::array();
  for (const auto& name : page) {
    if (json entry = list_entry(call.state, name); !entry.is_null()) list.push_back(std::move(entry));
  }
  json next = more && !page.empty() ? json(page.back()) : json();
  return {200, json{{"domains", list}, {"next_after", next}, {"total", call.state.domain_count()}}};
}

ApiResponse handle_add_domain(const Call& call) {
  Fields fields(call.body, {"domain", "tlsrpt_rua", "vantages"});
  std::string domain = normalize_domain(fields.string("domain"));
  DomainSettings settings = settings_from_body(fields, {});
  if (call.state.has_domain(domain)) throw HttpError{409, domain + " is already in the store"};
  call.state.add_domain(domain, settings);
  return {201, json{{"domain", domain}, {"settings", settings_json(settings)}}};
}

ApiResponse handle_status(const Call& call) {
  const size_t events = call.target.query_number("events", 10, 0, kMaxEvents);
  return {200, status_json(call.state, call.hooks, call.domain, call.now(), events)};
}

ApiResponse handle_remove_domain(const Call& call) {
  const bool force = call.target.query_flag("force");
  try {
    call.state.remove_domain(call.domain, force ? RemovalCheck::Force : RemovalCheck::RefuseWhileCached);
  } catch (const RetirementConflict& refused) {
    const auto status = call.state.status(call.domain, call.now());
    const std::string retire = status && status->retirement ? "" : "stsctl domain retire " + call.domain + ", or ";
    throw HttpError{409, std::string(refused.what()) + " (" + retire + "stsctl domain remove " + call.domain +
                             " --force; API: DELETE with ?force=true)"};
  }
  return {200, json{{"removed", call.domain}, {"forced", force}}};
}

ApiResponse handle_retire(const Call& call) {
  std::string reason;
  if (!call.body.is_null()) {
    Fields fields(call.body, {"reason"});
    if (fields.has("reason")) reason = fields.string("reason");
  }
  call.state.retire(call.domain, reason);
  return {201, status_json(call.state, call.hooks, call.domain, call.now(), 3)};
}

ApiResponse handle_unretire(const Call& call) {
  call.state.unretire(call.domain);
  return {200, status_json(call.state, call.hooks, call.domain, call.now(), 3)};
}

ApiResponse handle_events(const Call& call) {
  json events = json::array();
  for (const auto& event : call.state.events(call.domain, call.target.query_number("limit", 50, 1, kMaxEvents))) {
    events.push_back(event_json(event));
  }
  return {200, json{{"domain", call.domain}, {"events", events}}};
}

ApiResponse handle_get_settings(const Call& call) {
  return {200, json{{"domain", call.domain}, {"settings", settings_json(current_status(call).settings)}}};
}

ApiResponse handle_put_settings(const Call& call) {
  Fields fields(call.body, {"tlsrpt_rua", "vantages"});
  DomainSettings settings = settings_from_body(fields, current_status(call).settings);
  call.state.update_settings(call.domain, settings);
  return {200, json{{"domain", call.domain}, {"settings", settings_json(settings)}}};
}

}  // namespace stsd::admin
