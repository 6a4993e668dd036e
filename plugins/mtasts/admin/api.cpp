#include "api.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <set>
#include <unordered_map>

#include "logging.h"

namespace stsd::mtasts {
namespace {

using nlohmann::json;

// A refusal with its HTTP status; `extra` fields are merged into the error document.
struct HttpError {
  unsigned status;
  std::string message;
  json extra = json::object();
};

[[noreturn]] void bad_request(std::string message, json extra = json::object()) {
  throw HttpError{400, std::move(message), std::move(extra)};
}

// nlohmann's parser recurses per nesting level; a body of a million '[' would exhaust the
// stack. Nothing the API accepts nests deeper than a few levels.
bool nesting_within(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') --depth;
  }
  return true;
}

json parse_body(const std::string& body, bool required) {
  if (body.empty()) {
    if (required) bad_request("this request needs a JSON object body");
    return json();
  }
  if (!nesting_within(body, 16)) bad_request("the JSON body nests deeper than 16 levels");
  try {
    json parsed = json::parse(body);
    if (!parsed.is_object()) bad_request("the body must be a JSON object");
    return parsed;
  } catch (const json::parse_error& error) {
    std::string what = error.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    if (auto close = what.find("] "); close != std::string::npos) what = what.substr(close + 2);
    bad_request("the body is not valid JSON: " + what);
  }
}

// Strict access to the fields of a JSON object: unknown fields are errors (a typo must
// not silently drop a setting) and every type error names the field.
class Fields {
 public:
  Fields(const json& object, std::initializer_list<const char*> allowed) : object_(object) {
    if (!object.is_object()) fail("", "expected a JSON object");
    for (const auto& item : object.items()) {
      const std::string& key = item.key();   // not a structured binding: clang 14 cannot capture those
      bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* name) { return key == name; });
      if (!known) {
        std::string names;
        for (const char* name : allowed) names += std::string(names.empty() ? "" : ", ") + name;
        fail(key, "unknown field (known: " + names + ")");
      }
    }
  }
  bool has(const char* name) const { return object_.contains(name) && !object_.at(name).is_null(); }

  std::string string(const char* name) const {
    if (!has(name)) fail(name, "is required");
    const json& value = object_.at(name);
    if (!value.is_string()) fail(name, "must be a string");
    return value.get<std::string>();
  }
  uint64_t number(const char* name) const {
    if (!has(name)) fail(name, "is required");
    const json& value = object_.at(name);
    if (!value.is_number_unsigned()) fail(name, "must be a whole number (0 or more)");
    return value.get<uint64_t>();
  }
  bool boolean(const char* name, bool fallback) const {
    if (!has(name)) return fallback;
    const json& value = object_.at(name);
    if (!value.is_boolean()) fail(name, "must be true or false");
    return value.get<bool>();
  }
  std::vector<std::string> strings(const char* name) const {
    if (!has(name)) fail(name, "is required");
    const json& value = object_.at(name);
    if (value.is_string()) return {value.get<std::string>()};
    if (!value.is_array()) fail(name, "must be a list of strings");
    std::vector<std::string> out;
    for (const auto& item : value) {
      if (!item.is_string()) fail(name, "must be a list of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    if (field.empty()) bad_request(message);
    bad_request("field '" + field + "': " + message, json{{"field", field}});
  }

 private:
  const json& object_;
};

std::string percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    unsigned value = 0;
    const char* begin = text.data() + i + 1;
    const char* end = i + 3 <= text.size() ? text.data() + i + 3 : nullptr;
    if (end == nullptr) bad_request("bad percent-encoding in the request target");
    auto [stop, error] = std::from_chars(begin, end, value, 16);
    if (error != std::errc() || stop != end) bad_request("bad percent-encoding in the request target");
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

struct Target {
  std::vector<std::string> segments;
  std::unordered_map<std::string, std::string> query;

  uint64_t query_number(const std::string& name, uint64_t fallback, uint64_t min, uint64_t max) const {
    auto it = query.find(name);
    if (it == query.end()) return fallback;
    uint64_t value = 0;
    auto [end, error] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
    if (it->second.empty() || error != std::errc() || end != it->second.data() + it->second.size()) {
      bad_request("query parameter '" + name + "': '" + it->second + "' is not a whole number");
    }
    if (value < min || value > max) {
      bad_request("query parameter '" + name + "': " + it->second + " is out of range (" + std::to_string(min) + ".." +
                  std::to_string(max) + ")");
    }
    return value;
  }
};

Target parse_target(const std::string& target) {
  Target parsed;
  std::string_view text = target;
  std::string_view query;
  if (auto mark = text.find('?'); mark != std::string_view::npos) {
    query = text.substr(mark + 1);
    text = text.substr(0, mark);
  }
  if (text.empty() || text.front() != '/') bad_request("the request target must be a path starting with /");
  size_t start = 1;
  while (start <= text.size()) {
    size_t slash = text.find('/', start);
    if (slash == std::string_view::npos) slash = text.size();
    std::string_view segment = text.substr(start, slash - start);
    if (!segment.empty()) parsed.segments.push_back(percent_decode(segment));
    start = slash + 1;
  }
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    std::string key = percent_decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    if (!key.empty()) parsed.query[key] = value;
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return parsed;
}

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
      {"seq", event.seq},
      {"at", iso8601(event.at)},
      {"kind", event.kind},
      {"version", event.version == 0 ? json() : json(event.version)},
      {"detail", event.detail},
  };
}

json settings_json(const DomainSettings& settings) {
  return {
      {"tlsrpt_rua", settings.tlsrpt_rua},
      {"tlsrpt_record", settings.tlsrpt_rua.empty() ? json() : json(tlsrpt_record(settings.tlsrpt_rua))},
      {"vantages", settings.vantages},
  };
}

// Errors of the settings fields of a request; each names the field and the value.
void check_settings(const DomainSettings& settings) {
  for (const auto& uri : settings.tlsrpt_rua) {
    if (auto error = tlsrpt_rua_error(uri); !error.empty()) {
      bad_request("field 'tlsrpt_rua': '" + uri + "': " + error, json{{"field", "tlsrpt_rua"}});
    }
  }
  // One TXT character-string holds 255 octets (RFC 1035 §3.3), and one string is what
  // every reader handles; the store refuses longer records too.
  if (std::string record = tlsrpt_record(settings.tlsrpt_rua); record.size() > 255) {
    bad_request("field 'tlsrpt_rua': the TLS-RPT record '" + record + "' is longer than 255 characters",
                json{{"field", "tlsrpt_rua"}});
  }
  for (const auto& vantage : settings.vantages) {
    if (auto error = vantage_error(vantage); !error.empty()) {
      bad_request("field 'vantages': '" + vantage + "': " + error, json{{"field", "vantages"}});
    }
  }
}

// A policy from the fields mode/mx/max_age. Errors name the field.
Policy policy_from_fields(const Fields& fields) {
  Policy policy;
  std::string mode_text = fields.string("mode");
  auto mode = mode_from_string(mode_text);
  if (!mode) fields.fail("mode", "'" + mode_text + "' is not enforce, testing or none");
  policy.mode = *mode;
  policy.mx = fields.has("mx") ? fields.strings("mx") : std::vector<std::string>{};
  uint64_t max_age = fields.number("max_age");
  if (max_age > kMaxMaxAge) {
    fields.fail("max_age", std::to_string(max_age) + " is more than " + std::to_string(kMaxMaxAge) +
                               " seconds, the most RFC 8461 §3.2 allows");
  }
  policy.max_age = static_cast<uint32_t>(max_age);
  for (const auto& pattern : policy.mx) {
    if (auto error = mx_pattern_error(pattern); !error.empty()) {
      fields.fail("mx", "'" + pattern + "': " + error);
    }
  }
  if (auto errors = policy_errors(policy); !errors.empty()) {
    bad_request(diagnostics_text(errors), json{{"errors", diagnostics_json(errors)}});
  }
  return policy;
}

void merge_warnings(std::vector<Diagnostic>& into, const std::vector<Diagnostic>& more) {
  for (const auto& d : more) {
    bool seen = std::any_of(into.begin(), into.end(), [&](const Diagnostic& e) { return e.message == d.message; });
    if (!seen) into.push_back(d);
  }
}

int64_t now_unix(const PolicyState& state) { return unix_seconds(state.clock().now()); }

// Uses PolicyState::import_errors (the store's own checks of import items, writing
// nothing: one message per item, empty when valid) when the store offers it; the
// template defers the lookup so this also builds against a store without it.
template <class State>
std::optional<std::vector<std::string>> store_import_errors(const State& state, const std::vector<ImportItem>& items) {
  if constexpr (requires { state.import_errors(items); }) {
    return state.import_errors(items);
  } else {
    return std::nullopt;
  }
}

// A page of the sorted domain list: PolicyState::domains(after, limit) when the store
// offers it (no copy of the whole list per page), else a slice of domains().
template <class State>
std::vector<std::string> domain_page(const State& state, const std::string& after, size_t limit, bool& more) {
  std::vector<std::string> page;
  if constexpr (requires { state.domains(after, limit + 1); }) {
    page = state.domains(after, limit + 1);
  } else {
    std::vector<std::string> all = state.domains();
    auto begin = after.empty() ? all.begin() : std::upper_bound(all.begin(), all.end(), after);
    auto end = static_cast<size_t>(all.end() - begin) > limit + 1 ? begin + static_cast<std::ptrdiff_t>(limit + 1) : all.end();
    page.assign(std::make_move_iterator(begin), std::make_move_iterator(end));
  }
  more = page.size() > limit;
  if (more) page.resize(limit);
  return page;
}

}  // namespace

AdminApi::AdminApi(std::shared_ptr<PolicyState> state, std::shared_ptr<AdminHooks> hooks)
    : state_(std::move(state)), hooks_(std::move(hooks)) {}

ApiResponse AdminApi::handle(const ApiRequest& request) {
  try {
    return route(request);
  } catch (const HttpError& error) {
    json body = error.extra;
    body["error"] = error.message;
    return {error.status, body};
  } catch (const PolicyError& error) {
    return {400, json{{"error", error.what()}}};
  } catch (const StoreError& error) {
    log::f(log::Level::Error, "admin: %s %s: store error: %s", request.method.c_str(), request.target.c_str(),
           error.what());
    return {500, json{{"error", std::string("store error: ") + error.what()}}};
  } catch (const std::exception& error) {
    log::f(log::Level::Error, "admin: %s %s: %s", request.method.c_str(), request.target.c_str(), error.what());
    return {500, json{{"error", std::string("internal error: ") + error.what()}}};
  }
}

ApiResponse AdminApi::route(const ApiRequest& request) {
  const Target target = parse_target(request.target);
  const auto& s = target.segments;
  const std::string& method = request.method;
  auto method_not_allowed = [&](const char* allowed) -> ApiResponse {
    throw HttpError{405, method + " is not allowed on " + request.target + " (allowed: " + allowed + ")"};
  };
  auto require_no_body = [&] {
    if (!request.body.empty()) bad_request(method + " " + request.target + " takes no body");
  };

  if (s.size() < 1 || s[0] != "v1") {
    throw HttpError{404, "no such endpoint: " + request.target + " (the API lives under /v1/)"};
  }

  // GET /v1/server
  if (s.size() == 2 && s[1] == "server") {
    if (method != "GET") return method_not_allowed("GET");
    return {200, json{{"server", "stsd"},
                      {"version", STSD_VERSION},
                      {"schema", PolicyState::kSchemaVersion},
                      {"domains", state_->domain_count()},
                      {"rotation_seconds", state_->rotation().count()},
                      {"now", iso8601(now_unix(*state_))}}};
  }

  // POST /v1/import
  if (s.size() == 2 && s[1] == "import") {
    if (method != "POST") return method_not_allowed("POST");
    json body = parse_body(request.body, true);
    Fields fields(body, {"rows", "dry_run", "confirm", "reason"});
    bool dry_run = fields.boolean("dry_run", false);
    bool confirm = fields.boolean("confirm", false);
    std::string reason = fields.has("reason") ? fields.string("reason") : std::string();
    if (confirm && reason.find_first_not_of(" \t") == std::string::npos) {
      fields.fail("reason", "is required with \"confirm\": true (it is recorded with every confirmation)");
    }
    if (!body.contains("rows") || !body["rows"].is_array()) fields.fail("rows", "must be a list of row objects");
    const json& rows = body["rows"];
    if (rows.size() > kMaxImportRows) {
      fields.fail("rows", std::to_string(rows.size()) + " rows; send at most " + std::to_string(kMaxImportRows) +
                              " per request");
    }

    // Check every row before writing anything; report every bad row, by its line.
    std::vector<ImportItem> items;
    std::vector<json> lines;
    json errors = json::array();
    std::unordered_map<std::string, json> first_line_of;
    for (size_t i = 0; i < rows.size(); ++i) {
      const json& row = rows[i];
      json line = row.is_object() && row.contains("line") ? row["line"] : json(i + 1);
      std::string where = row.is_object() && row.contains("line") ? "line " + line.dump() + ": " :
                                                                    "row " + std::to_string(i + 1) + ": ";
      try {
        Fields row_fields(row, {"line", "domain", "mode", "mx", "max_age", "tlsrpt_rua"});
        ImportItem item;
        item.domain = normalize_domain(row_fields.string("domain"));
        item.policy = policy_from_fields(row_fields);
        if (row_fields.has("tlsrpt_rua")) {
          DomainSettings settings;
          settings.tlsrpt_rua = row_fields.strings("tlsrpt_rua");
          check_settings(settings);
          item.settings = std::move(settings);
        }
        auto [it, fresh] = first_line_of.emplace(item.domain, line);
        if (!fresh) {
          bad_request(item.domain + " appears twice in one request (also " + it->second.dump() +
                      "); send it in separate requests");
        }
        items.push_back(std::move(item));
        lines.push_back(line);
      } catch (const HttpError& error) {
        errors.push_back(json{{"line", line}, {"error", where + error.message}});
      } catch (const PolicyError& error) {
        errors.push_back(json{{"line", line}, {"error", where + error.what()}});
      }
    }
    if (errors.empty()) {
      if (auto store_errors = store_import_errors(*state_, items)) {
        for (size_t i = 0; i < store_errors->size() && i < lines.size(); ++i) {
          if ((*store_errors)[i].empty()) continue;
          std::string where = lines[i].is_number() ? "line " + lines[i].dump() + ": " : "row " + std::to_string(i + 1) + ": ";
          errors.push_back(json{{"line", lines[i]}, {"error", where + (*store_errors)[i]}});
        }
      }
    }
    if (dry_run) return {200, json{{"checked", rows.size()}, {"errors", errors}}};
    if (!errors.empty()) {
      throw HttpError{400,
                      std::to_string(errors.size()) + " of " + std::to_string(rows.size()) +
                          " rows are invalid; nothing in this request was applied. First: " +
                          errors[0]["error"].get<std::string>(),
                      json{{"errors", errors}}};
    }
    // A row's tlsrpt_rua replaces the URIs only; keep the vantages the domain has.
    for (auto& item : items) {
      if (!item.settings || !state_->has_domain(item.domain)) continue;
      if (auto current = state_->status(item.domain, now_unix(*state_))) {
        item.settings->vantages = current->settings.vantages;
      }
    }
    std::vector<ImportResult> results;
    try {
      results = state_->import(items, confirm, reason);
    } catch (const PolicyError& error) {
      std::string span = lines.empty() ? std::string()
                                       : " (rows from line " + lines.front().dump() + " to " + lines.back().dump() + ")";
      bad_request(std::string(error.what()) + span + "; nothing in this request was applied");
    }
    json out = json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      out.push_back(json{{"line", i < lines.size() ? lines[i] : json()},
                         {"domain", r.domain},
                         {"added", r.domain_added},
                         {"version", r.stage.version},
                         {"staged", r.stage.created},
                         {"confirmed", r.confirmed},
                         {"warnings", diagnostics_json(r.stage.warnings)}});
    }
    return {200, json{{"results", out}}};
  }

  if (s.size() < 2 || s[1] != "domains") throw HttpError{404, "no such endpoint: " + request.target};

  // /v1/domains
  if (s.size() == 2) {
    if (method == "GET") {
      require_no_body();
      size_t limit = target.query_number("limit", kDefaultListPage, 1, kMaxListPage);
      std::string after;
      if (auto it = target.query.find("after"); it != target.query.end()) after = it->second;
      bool more = false;
      std::vector<std::string> page = domain_page(*state_, after, limit, more);
      json list = json::array();
      for (const auto& name : page) {
        auto served = state_->served(name);
        if (!served) continue;   // removed meanwhile
        bool pending = served->staged && (!served->confirmed || served->staged->number > served->confirmed->number);
        list.push_back(json{{"domain", name},
                            {"staged", served->staged ? json(served->staged->number) : json()},
                            {"confirmed", served->confirmed ? json(served->confirmed->number) : json()},
                            {"pending", pending},
                            {"held", served->held_since.has_value()}});
      }
      json next = more && !page.empty() ? json(page.back()) : json();
      return {200, json{{"domains", list}, {"next_after", next}, {"total", state_->domain_count()}}};
    }
    if (method == "POST") {
      json body = parse_body(request.body, true);
      Fields fields(body, {"domain", "tlsrpt_rua", "vantages"});
      std::string domain = normalize_domain(fields.string("domain"));
      DomainSettings settings;
      if (fields.has("tlsrpt_rua")) settings.tlsrpt_rua = fields.strings("tlsrpt_rua");
      if (fields.has("vantages")) settings.vantages = fields.strings("vantages");
      check_settings(settings);
      if (state_->has_domain(domain)) throw HttpError{409, domain + " is already in the store"};
      state_->add_domain(domain, settings);
      return {201, json{{"domain", domain}, {"settings", settings_json(settings)}}};
    }
    return method_not_allowed("GET, POST");
  }

  // /v1/domains/{domain}...
  const std::string domain = normalize_domain(s[2]);
  if (!state_->has_domain(domain)) {
    throw HttpError{404, domain + " is not in the store (add it first: stsctl domain add " + domain + ")",
                    json{{"domain", domain}}};
  }
  auto status_of = [&](size_t event_count) -> json {
    const int64_t now = now_unix(*state_);
    auto status = state_->status(domain, now);
    if (!status) throw HttpError{404, domain + " is not in the store"};
    bool pending = status->staged && (!status->confirmed || status->staged->number > status->confirmed->number);
    json out = {
        {"domain", status->domain},
        {"created_at", iso8601(status->created_at)},
        {"settings", settings_json(status->settings)},
        {"staged", status->staged ? version_json(*status->staged) : json()},
        {"confirmed", status->confirmed ? version_json(*status->confirmed) : json()},
        {"pending", pending},
        {"now", iso8601(now)},
        {"rotation_seconds", state_->rotation().count()},
    };
    if (status->confirmation) {
      out["confirmation"] = json{{"version", status->confirmation->version},
                                 {"at", iso8601(status->confirmation->at)},
                                 {"manual", status->confirmation->manual},
                                 {"reason", status->confirmation->reason}};
    } else {
      out["confirmation"] = nullptr;
    }
    out["hold"] = status->hold ? json{{"reason", status->hold->reason}, {"since", iso8601(status->hold->since)}}
                               : json();
    if (status->served_id.empty()) {
      out["served_id"] = nullptr;
      out["txt"] = nullptr;
    } else {
      out["served_id"] = status->served_id;
      out["txt"] = "v=STSv1; id=" + status->served_id + ";";
    }
    out["next_rotation"] = status->next_rotation == 0 ? json() : json(iso8601(status->next_rotation));
    json events = json::array();
    if (event_count > 0) {
      for (const auto& event : state_->events(domain, event_count)) events.push_back(event_json(event));
    }
    out["events"] = events;
    json extensions = json::object();
    for (const auto& [name, section] : hooks_->status_sections()) extensions[name] = section(domain);
    out["extensions"] = extensions;
    return out;
  };

  if (s.size() == 3) {
    if (method == "GET") {
      require_no_body();
      return {200, status_of(target.query_number("events", 10, 0, kMaxEvents))};
    }
    if (method == "DELETE") {
      require_no_body();
      state_->remove_domain(domain);
      return {200, json{{"removed", domain}}};
    }
    return method_not_allowed("GET, DELETE");
  }

  const std::string& resource = s[3];
  if (resource == "status" && s.size() == 4) {
    if (method != "GET") return method_not_allowed("GET");
    require_no_body();
    return {200, status_of(target.query_number("events", 10, 0, kMaxEvents))};
  }
  if (resource == "events" && s.size() == 4) {
    if (method != "GET") return method_not_allowed("GET");
    require_no_body();
    json events = json::array();
    for (const auto& event : state_->events(domain, target.query_number("limit", 50, 1, kMaxEvents))) {
      events.push_back(event_json(event));
    }
    return {200, json{{"domain", domain}, {"events", events}}};
  }
  if (resource == "settings" && s.size() == 4) {
    auto current = state_->status(domain, now_unix(*state_));
    if (!current) throw HttpError{404, domain + " is not in the store"};
    if (method == "GET") {
      require_no_body();
      return {200, json{{"domain", domain}, {"settings", settings_json(current->settings)}}};
    }
    if (method != "PUT") return method_not_allowed("GET, PUT");
    json body = parse_body(request.body, true);
    Fields fields(body, {"tlsrpt_rua", "vantages"});
    DomainSettings settings = current->settings;
    if (fields.has("tlsrpt_rua")) settings.tlsrpt_rua = fields.strings("tlsrpt_rua");
    if (fields.has("vantages")) settings.vantages = fields.strings("vantages");
    check_settings(settings);
    state_->update_settings(domain, settings);
    return {200, json{{"domain", domain}, {"settings", settings_json(settings)}}};
  }
  if (resource == "policies" && s.size() == 4) {
    if (method != "POST") return method_not_allowed("POST");
    json body = parse_body(request.body, true);
    Fields fields(body, {"mode", "mx", "max_age", "text", "force", "skip_if_unchanged"});
    bool force = fields.boolean("force", false);
    bool skip_if_unchanged = fields.boolean("skip_if_unchanged", true);
    Policy policy;
    std::vector<Diagnostic> warnings;
    if (fields.has("text")) {
      if (fields.has("mode") || fields.has("mx") || fields.has("max_age")) {
        fields.fail("text", "give either the policy text or mode/mx/max_age, not both");
      }
      std::string text = fields.string("text");
      if (text.size() > kMaxPolicyBytes) fields.fail("text", "is larger than 64 KiB (RFC 8461 §3.3)");
      ParsedPolicy parsed = parse_policy(text);
      if (!parsed.errors.empty() || !parsed.policy) {
        bad_request("policy text: " + diagnostics_text(parsed.errors),
                    json{{"field", "text"}, {"errors", diagnostics_json(parsed.errors)}});
      }
      policy = *parsed.policy;
      warnings = parsed.warnings;
    } else {
      policy = policy_from_fields(fields);
    }
    std::vector<std::string> problems;
    for (const auto& check : hooks_->stage_checks()) {
      for (auto& problem : check(domain, policy)) problems.push_back(std::move(problem));
    }
    if (!problems.empty() && !force) {
      std::string text;
      for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
      throw HttpError{409, "not staged: " + text + " (pass force to stage anyway)", json{{"problems", problems}}};
    }
    StageResult result = state_->stage(domain, policy, skip_if_unchanged);
    merge_warnings(warnings, result.warnings);
    json out = {{"domain", domain},
                {"version", result.version},
                {"created", result.created},
                {"warnings", diagnostics_json(warnings)},
                {"forced_past", force ? json(problems) : json::array()}};
    if (auto status = state_->status(domain, now_unix(*state_)); status && status->confirmed) {
      out["confirmed_version"] = status->confirmed->number;
    } else {
      out["confirmed_version"] = nullptr;
    }
    return {result.created ? 201u : 200u, out};
  }
  if (resource == "policies" && s.size() == 5) {
    if (method != "GET") return method_not_allowed("GET");
    require_no_body();
    uint32_t number = 0;
    auto [end, error] = std::from_chars(s[4].data(), s[4].data() + s[4].size(), number);
    if (error != std::errc() || end != s[4].data() + s[4].size() || number == 0) {
      bad_request("'" + s[4] + "' is not a version number");
    }
    auto version = state_->version(domain, number);
    if (!version) throw HttpError{404, domain + " has no version " + s[4]};
    json out = version_json(*version);
    out["domain"] = domain;
    out["text"] = render_policy(version->policy);
    return {200, out};
  }
  if (resource == "policy" && s.size() == 4) {
    if (method != "GET") return method_not_allowed("GET");
    require_no_body();
    auto status = state_->status(domain, now_unix(*state_));
    if (!status || (!status->confirmed && !status->staged)) {
      throw HttpError{404, domain + " has no policy version yet (stage one: stsctl policy stage " + domain + " ...)"};
    }
    const PolicyVersion& version = status->confirmed ? *status->confirmed : *status->staged;
    json out = version_json(version);
    out["domain"] = domain;
    out["which"] = status->confirmed ? "confirmed" : "staged";
    out["text"] = render_policy(version.policy);
    return {200, out};
  }
  if (resource == "confirm" && s.size() == 4) {
    if (method != "POST") return method_not_allowed("POST");
    json body = parse_body(request.body, true);
    Fields fields(body, {"version", "reason"});
    uint64_t number = fields.number("version");
    std::string reason = fields.string("reason");
    if (reason.find_first_not_of(" \t\r\n") == std::string::npos) {
      fields.fail("reason", "is empty; say how you know the version is served (it is recorded)");
    }
    if (number == 0 || number > UINT32_MAX || !state_->version(domain, static_cast<uint32_t>(number))) {
      throw HttpError{404, domain + " has no version " + std::to_string(number), json{{"field", "version"}}};
    }
    state_->confirm(domain, static_cast<uint32_t>(number), true, reason);
    return {200, status_of(3)};
  }
  for (const auto& route : hooks_->domain_routes()) {
    if (s.size() != 4 || route.name != resource) continue;
    if (route.method != method) continue;
    json body = parse_body(request.body, false);
    return {200, route.handler(domain, body)};
  }
  throw HttpError{404, "no such endpoint: " + method + " " + request.target};
}

}  // namespace stsd::mtasts
