#include "tlsrpt/report.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "store/errors.h"
#include "store/names.h"
#include "utc_time.h"

namespace stsd::tlsrpt {
namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& field, const std::string& reason) {
  throw ReportRefused(field + ": " + reason);
}

std::string join(const std::string& parent, std::string_view name) {
  return parent.empty() ? std::string(name) : parent + "." + std::string(name);
}

// Strict reads of one JSON object's members; every refusal names the member's path.
class Member {
 public:
  Member(const json& object, std::string path, const ReportLimits& limits)
      : object_(object), path_(std::move(path)), limits_(limits) {
    if (!object_.is_object()) refuse(path_.empty() ? "report" : path_, "not a JSON object");
  }

  const json* find(std::string_view name) const {
    auto it = object_.find(name);
    return it == object_.end() ? nullptr : &*it;
  }
  const json& required(std::string_view name) const {
    const json* value = find(name);
    if (!value) refuse(join(path_, name), "missing");
    return *value;
  }
  std::string text(std::string_view name, bool needed) const {
    const json* value = needed ? &required(name) : find(name);
    if (!value) return {};
    if (!value->is_string()) refuse(join(path_, name), "not a string");
    const auto& text = value->get_ref<const std::string&>();
    if (needed && text.empty()) refuse(join(path_, name), "empty");
    if (text.size() > limits_.max_text)
      refuse(join(path_, name), "longer than " + std::to_string(limits_.max_text) + " octets");
    return text;
  }
  uint64_t count(std::string_view name) const {
    const json& value = required(name);
    if (!value.is_number_unsigned())
      refuse(join(path_, name), "not a whole number of sessions (0 or more)");
    return value.get<uint64_t>();
  }
  // A list of strings; with `one_string_is_a_list`, a single string too.
  std::vector<std::string> texts(std::string_view name, bool one_string_is_a_list) const {
    const json* value = find(name);
    std::vector<std::string> result;
    if (!value) return result;
    if (value->is_string() && one_string_is_a_list) return {text(name, false)};
    if (!value->is_array()) refuse(join(path_, name), "not a list of strings");
    for (size_t i = 0; i < value->size(); ++i) {
      const std::string place = join(path_, name) + "[" + std::to_string(i) + "]";
      if (!(*value)[i].is_string()) refuse(place, "not a string");
      const auto& line = (*value)[i].get_ref<const std::string&>();
      if (line.size() > limits_.max_text) refuse(place, "longer than " + std::to_string(limits_.max_text) + " octets");
      result.push_back(line);
    }
    return result;
  }
  const json& list(std::string_view name, bool needed, size_t max) const {
    static const json empty = json::array();
    const json* value = needed ? &required(name) : find(name);
    if (!value) return empty;
    if (!value->is_array()) refuse(join(path_, name), "not a list");
    if (value->size() > max) refuse(join(path_, name), "more than " + std::to_string(max) + " entries");
    return *value;
  }
  std::string path(std::string_view name) const { return join(path_, name); }

 private:
  const json& object_;
  std::string path_;
  const ReportLimits& limits_;
};

// Depth is checked while parsing, so a deeply nested body is refused before it is built.
json parse_bounded(std::string_view text, size_t max_depth) {
  struct TooDeep {};
  auto callback = [max_depth](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        static_cast<size_t>(depth) >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const TooDeep&) {
    refuse("report", "nested deeper than " + std::to_string(max_depth) + " levels");
  } catch (const json::parse_error& error) {
    refuse("report", std::string("not JSON: ") + error.what());
  }
}

FailureDetail read_failure(const Member& m) {
  FailureDetail detail;
  detail.result_type = m.text("result-type", true);
  detail.sending_mta_ip = m.text("sending-mta-ip", false);
  detail.receiving_mx_hostname = m.text("receiving-mx-hostname", false);
  detail.receiving_mx_helo = m.text("receiving-mx-helo", false);
  detail.receiving_ip = m.text("receiving-ip", false);
  detail.additional_information = m.text("additional-information", false);
  detail.failure_reason_code = m.text("failure-reason-code", false);
  detail.failed_session_count = m.count("failed-session-count");
  return detail;
}

PolicyResult read_policy(const json& entry, const std::string& path, const ReportLimits& limits) {
  Member outer(entry, path, limits);
  PolicyResult result;
  Member policy(outer.required("policy"), outer.path("policy"), limits);
  result.policy_type = policy.text("policy-type", true);
  if (result.policy_type != "sts" && result.policy_type != "tlsa" && result.policy_type != "no-policy-found")
    refuse(policy.path("policy-type"), "'" + result.policy_type + "' is none of sts, tlsa, no-policy-found");
  result.policy_string = policy.texts("policy-string", false);
  const std::string domain = policy.text("policy-domain", true);
  try {
    result.policy_domain = store::normalize_domain(domain);
  } catch (const store::PolicyError& error) {
    refuse(policy.path("policy-domain"), error.what());
  }
  result.mx_host = policy.texts("mx-host", true);
  Member summary(outer.required("summary"), outer.path("summary"), limits);
  result.successful = summary.count("total-successful-session-count");
  result.failed = summary.count("total-failure-session-count");
  const json& details = outer.list("failure-details", false, limits.max_failure_details);
  for (size_t i = 0; i < details.size(); ++i)
    result.failures.push_back(read_failure(Member(details[i], outer.path("failure-details") + "[" + std::to_string(i) + "]", limits)));
  return result;
}

void check_dates(const Report& report, const ReportLimits& limits, int64_t now) {
  if (report.end <= report.start) refuse("date-range.end-datetime", "not after start-datetime");
  if (report.end - report.start > limits.max_span_seconds)
    refuse("date-range", "spans more than " + std::to_string(limits.max_span_seconds / 86400) + " days");
  if (report.start < now - limits.max_age_seconds)
    refuse("date-range.start-datetime", iso8601(report.start) + " is older than the " +
                                            std::to_string(limits.max_age_seconds / 86400) + " days kept");
  if (report.end > now + limits.max_future_seconds)
    refuse("date-range.end-datetime", iso8601(report.end) + " is in the future");
}

}  // namespace

int64_t parse_date_time(std::string_view text, const std::string& field) {
  std::string why;
  const auto seconds = parse_rfc3339(text, &why);
  if (!seconds) refuse(field, "'" + std::string(text) + "' " + why);
  return *seconds;
}

Report parse_report(std::string_view json_text, const ReportLimits& limits, int64_t now) {
  const json document = parse_bounded(json_text, limits.max_depth);
  Member top(document, "", limits);
  Report report;
  report.organization = top.text("organization-name", true);
  Member range(top.required("date-range"), "date-range", limits);
  report.start = parse_date_time(range.text("start-datetime", true), "date-range.start-datetime");
  report.end = parse_date_time(range.text("end-datetime", true), "date-range.end-datetime");
  report.contact_info = top.text("contact-info", true);
  report.report_id = top.text("report-id", true);
  const json& policies = top.list("policies", true, limits.max_policies);
  if (policies.empty()) refuse("policies", "empty");
  for (size_t i = 0; i < policies.size(); ++i)
    report.policies.push_back(read_policy(policies[i], "policies[" + std::to_string(i) + "]", limits));
  check_dates(report, limits, now);
  return report;
}

const std::vector<std::string_view>& result_types() {
  static const std::vector<std::string_view> types = {
      "starttls-not-supported", "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted",
      "validation-failure",     "tlsa-invalid",              "dnssec-invalid",      "dane-required",
      "sts-policy-fetch-error", "sts-policy-invalid",        "sts-webpki-invalid"};
  return types;
}

bool known_result_type(std::string_view type) {
  const auto& types = result_types();
  return std::find(types.begin(), types.end(), type) != types.end();
}

}  // namespace stsd::tlsrpt
