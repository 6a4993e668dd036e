// The admin API's routes for a domain's policy versions: staging a new one (from fields or
// a policy file), showing one, and confirming one by hand.
#include <algorithm>
#include <charconv>

#include "api_documents.h"
#include "api_handlers.h"

namespace stsd::admin {

using namespace stsd::store;  // the API speaks the store's vocabulary throughout
namespace {

using nlohmann::json;

struct RequestedPolicy {
  Policy policy;
  std::vector<Diagnostic> warnings;  // of the policy text, by line
};

// The policy a stage request gives: the text of a policy file (RFC 8461 §3.2), or the
// fields mode/mx/max_age; never both.
RequestedPolicy requested_policy(const Fields& fields) {
  if (!fields.has("text")) return {policy_from_fields(fields), {}};
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
  return {*parsed.policy, parsed.warnings};
}

// What the checks other services registered (AdminExtensions::add_stage_check) object to.
std::vector<std::string> stage_problems(const AdminExtensions& hooks, const std::string& domain, const Policy& policy) {
  std::vector<std::string> problems;
  for (const auto& check : hooks.stage_checks()) {
    for (auto& problem : check(domain, policy)) problems.push_back(std::move(problem));
  }
  return problems;
}

// What the checks other services registered (AdminExtensions::add_confirm_check) object
// to in confirming `version` by hand now.
std::vector<std::string> confirm_problems(const AdminExtensions& hooks, const std::string& domain, uint32_t version) {
  std::vector<std::string> problems;
  for (const auto& check : hooks.confirm_checks()) {
    for (auto& problem : check(domain, version)) problems.push_back(std::move(problem));
  }
  return problems;
}

std::string joined(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
  return text;
}

void merge_warnings(std::vector<Diagnostic>& into, const std::vector<Diagnostic>& more) {
  for (const auto& d : more) {
    bool seen = std::any_of(into.begin(), into.end(), [&](const Diagnostic& e) { return e.message == d.message; });
    if (!seen) into.push_back(d);
  }
}

json confirmed_number(const Call& call) {
  auto status = call.state.status(call.domain, call.now());
  return status && status->confirmed ? json(status->confirmed->number) : json();
}

uint32_t version_number(const std::string& text) {
  uint32_t number = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size() || number == 0) {
    bad_request("'" + text + "' is not a version number");
  }
  return number;
}

}  // namespace

ApiResponse handle_stage(const Call& call) {
  Fields fields(call.body, {"mode", "mx", "max_age", "text", "force", "skip_if_unchanged"});
  const bool force = fields.boolean("force", false);
  const bool skip_if_unchanged = fields.boolean("skip_if_unchanged", true);
  RequestedPolicy requested = requested_policy(fields);
  std::vector<std::string> problems = stage_problems(call.hooks, call.domain, requested.policy);
  if (!problems.empty() && !force) {
    throw HttpError{409, "not staged: " + joined(problems) + " (pass force to stage anyway)",
                    json{{"problems", problems}}};
  }
  StageResult result = call.state.stage(call.domain, requested.policy, skip_if_unchanged);
  merge_warnings(requested.warnings, result.warnings);
  json out = {{"domain", call.domain},
              {"version", result.version},
              {"created", result.created},
              {"warnings", diagnostics_json(requested.warnings)},
              {"forced_past", force ? json(problems) : json::array()},
              {"confirmed_version", confirmed_number(call)}};
  return {result.created ? 201u : 200u, out};
}

ApiResponse handle_version(const Call& call) {
  const std::string& text = call.captures.at("version");
  auto version = call.state.version(call.domain, version_number(text));
  if (!version) throw HttpError{404, call.domain + " has no version " + text};
  json out = version_json(*version);
  out["domain"] = call.domain;
  out["text"] = render_policy(version->policy);
  return {200, out};
}

ApiResponse handle_current_policy(const Call& call) {
  auto status = call.state.status(call.domain, call.now());
  if (!status || (!status->confirmed && !status->staged)) {
    throw HttpError{
        404, call.domain + " has no policy version yet (stage one: stsctl policy stage " + call.domain + " ...)"};
  }
  const PolicyVersion& version = status->confirmed ? *status->confirmed : *status->staged;
  json out = version_json(version);
  out["domain"] = call.domain;
  out["which"] = status->confirmed ? "confirmed" : "staged";
  out["text"] = render_policy(version.policy);
  return {200, out};
}

ApiResponse handle_confirm(const Call& call) {
  Fields fields(call.body, {"version", "reason", "force"});
  const uint64_t number = fields.number("version");
  const bool force = fields.boolean("force", false);
  const std::string reason = fields.string("reason");
  if (reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    fields.fail("reason", "is empty; say how you know the version is served (it is recorded)");
  }
  if (number == 0 || number > UINT32_MAX || !call.state.version(call.domain, static_cast<uint32_t>(number))) {
    throw HttpError{404, call.domain + " has no version " + std::to_string(number), json{{"field", "version"}}};
  }
  // The id moves at once: refuse while a vantage was seen serving something else.
  const auto version = static_cast<uint32_t>(number);
  const std::vector<std::string> problems = confirm_problems(call.hooks, call.domain, version);
  if (!problems.empty() && !force) {
    throw HttpError{409,
                    "not confirmed: " + joined(problems) + " (confirming would move the id to version " +
                        std::to_string(version) +
                        " while senders can fetch something else; pass force to confirm "
                        "anyway)",
                    json{{"problems", problems}}};
  }
  call.state.confirm(call.domain, version, true, reason, problems.empty() ? "" : "forced: " + joined(problems));
  // The status after the confirmation, with the event it recorded.
  json out = status_json(call.state, call.hooks, call.domain, call.now(), 3);
  out["forced_past"] = problems;
  return {200, out};
}

}  // namespace stsd::admin
