#include "api_request.h"

#include <algorithm>
#include <charconv>

#include "api_documents.h"

namespace stsd::admin {

using namespace stsd::store;  // the API speaks the store's vocabulary throughout
namespace {

using nlohmann::json;

// nlohmann's parser recurses per nesting level; a body of a million '[' would exhaust the
// stack. Nothing the API accepts nests deeper than a few levels.
bool nesting_within(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}')
      --depth;
  }
  return true;
}

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

}  // namespace

void bad_request(std::string message, json extra) { throw HttpError{400, std::move(message), std::move(extra)}; }

uint64_t Target::query_number(const std::string& name, uint64_t fallback, uint64_t min, uint64_t max) const {
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

std::string Target::query_text(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

bool Target::query_flag(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return false;
  if (it->second == "true" || it->second == "1") return true;
  if (it->second == "false" || it->second == "0") return false;
  bad_request("query parameter '" + name + "': '" + it->second + "' is not true or false");
}

std::vector<std::string_view> path_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

Target parse_target(const std::string& target) {
  Target parsed;
  std::string_view text = target;
  std::string_view query;
  if (auto mark = text.find('?'); mark != std::string_view::npos) {
    query = text.substr(mark + 1);
    text = text.substr(0, mark);
  }
  if (text.empty() || text.front() != '/') bad_request("the request target must be a path starting with /");
  for (std::string_view segment : path_segments(text)) parsed.segments.push_back(percent_decode(segment));
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

Fields::Fields(const json& object, std::initializer_list<const char*> allowed) : object_(object) {
  if (!object.is_object()) fail("", "expected a JSON object");
  for (const auto& item : object.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 cannot capture those
    bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* name) { return key == name; });
    if (!known) {
      std::string names;
      for (const char* name : allowed) names += std::string(names.empty() ? "" : ", ") + name;
      fail(key, "unknown field (known: " + names + ")");
    }
  }
}

bool Fields::has(const char* name) const { return object_.contains(name) && !object_.at(name).is_null(); }

std::string Fields::string(const char* name) const {
  if (!has(name)) fail(name, "is required");
  const json& value = object_.at(name);
  if (!value.is_string()) fail(name, "must be a string");
  return value.get<std::string>();
}

uint64_t Fields::number(const char* name) const {
  if (!has(name)) fail(name, "is required");
  const json& value = object_.at(name);
  if (!value.is_number_unsigned()) fail(name, "must be a whole number (0 or more)");
  return value.get<uint64_t>();
}

bool Fields::boolean(const char* name, bool fallback) const {
  if (!has(name)) return fallback;
  const json& value = object_.at(name);
  if (!value.is_boolean()) fail(name, "must be true or false");
  return value.get<bool>();
}

std::vector<std::string> Fields::strings(const char* name) const {
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

void Fields::fail(const std::string& field, const std::string& message) const {
  if (field.empty()) bad_request(message);
  bad_request("field '" + field + "': " + message, json{{"field", field}});
}

namespace {

// A field of a JSON body ("field 'mode': ...") or a column of a CSV row ("column mode: ...").
[[noreturn]] void refuse_part(PolicyParts parts, const std::string& name, const std::string& message) {
  if (parts == PolicyParts::CsvColumns) bad_request("column " + name + ": " + message);
  bad_request("field '" + name + "': " + message, json{{"field", name}});
}

}  // namespace

Policy policy_from_parts(const std::string& mode_text, std::vector<std::string> mx, uint64_t max_age,
                         PolicyParts parts) {
  Policy policy;
  auto mode = mode_from_string(mode_text);
  if (!mode) refuse_part(parts, "mode", "'" + mode_text + "' is not enforce, testing or none");
  policy.mode = *mode;
  policy.mx = std::move(mx);
  if (max_age > kMaxMaxAge) {
    refuse_part(parts, "max_age",
                std::to_string(max_age) + " is more than " + std::to_string(kMaxMaxAge) +
                    " seconds, the most RFC 8461 §3.2 allows");
  }
  policy.max_age = static_cast<uint32_t>(max_age);
  // policy_errors() checks every pattern too; a bad pattern is named by its part first.
  if (auto errors = policy_errors(policy); !errors.empty()) {
    for (const auto& pattern : policy.mx) {
      if (auto error = mx_pattern_error(pattern); !error.empty())
        refuse_part(parts, "mx", "'" + pattern + "': " + error);
    }
    bad_request(diagnostics_text(errors), json{{"errors", diagnostics_json(errors)}});
  }
  return policy;
}

Policy policy_from_fields(const Fields& fields) {
  std::string mode = fields.string("mode");
  std::vector<std::string> mx = fields.has("mx") ? fields.strings("mx") : std::vector<std::string>{};
  return policy_from_parts(mode, std::move(mx), fields.number("max_age"), PolicyParts::JsonFields);
}

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

}  // namespace stsd::admin
