#pragma once
// Reading an admin API request, strictly: the target (path segments and query, percent-
// decoded), the JSON body, and the fields of a JSON object as the store's types. Every
// refusal is an HttpError whose message names the field or the part of the request.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/policy_store.h"

namespace stsd::admin {

// A refusal with its HTTP status; `extra` fields are merged into the error document
// {"error": message, ...extra}.
struct HttpError {
  unsigned status;
  std::string message;
  nlohmann::json extra = nlohmann::json::object();
};

[[noreturn]] void bad_request(std::string message, nlohmann::json extra = nlohmann::json::object());

// The request target split into percent-decoded path segments (empty segments dropped,
// so "/v1//domains/" is "/v1/domains") and query parameters.
struct Target {
  std::vector<std::string> segments;
  std::unordered_map<std::string, std::string> query;

  // The query parameter `name` as a whole number in min..max; `fallback` when absent.
  uint64_t query_number(const std::string& name, uint64_t fallback, uint64_t min, uint64_t max) const;
  // The query parameter `name`; empty when absent.
  std::string query_text(const std::string& name) const;
  // The query parameter `name` as true/false (or 1/0); false when absent.
  bool query_flag(const std::string& name) const;
};

// Throws HttpError 400 for a target that is not a path or has bad percent-encoding.
Target parse_target(const std::string& target);

// The non-empty "/"-separated segments of a path, as they are (not decoded).
std::vector<std::string_view> path_segments(std::string_view path);

// The body as a JSON object; null when the body is empty and not `required`.
nlohmann::json parse_body(const std::string& body, bool required);

// Strict access to the fields of a JSON object: unknown fields are errors (a typo must
// not silently drop a setting) and every type error names the field.
class Fields {
 public:
  Fields(const nlohmann::json& object, std::initializer_list<const char*> allowed);

  bool has(const char* name) const;
  std::string string(const char* name) const;
  uint64_t number(const char* name) const;
  bool boolean(const char* name, bool fallback) const;
  // A list of strings; a single string is a list of one.
  std::vector<std::string> strings(const char* name) const;
  [[noreturn]] void fail(const std::string& field, const std::string& message) const;

 private:
  const nlohmann::json& object_;
};

// A policy from the fields mode/mx/max_age. Errors name the field.
store::Policy policy_from_fields(const Fields& fields);

// How errors name the parts of a policy: "field 'mode': ..." (a JSON body) or
// "column mode: ..." (a row of an import file).
enum class PolicyParts { JsonFields, CsvColumns };
// A policy from its parts, checked as policy_from_fields checks them.
store::Policy policy_from_parts(const std::string& mode, std::vector<std::string> mx, uint64_t max_age,
                                PolicyParts parts);

// Refuses settings a domain cannot have; each error names the field and the value.
void check_settings(const store::DomainSettings& settings);

}  // namespace stsd::admin
