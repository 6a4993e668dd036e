#pragma once
// TLS-RPT aggregate reports (RFC 8460 §4): the model and THE parser, which checks what
// the RFC requires and what stsd needs to trust a report before it stores anything:
// required fields and their types, RFC 3339 date-times with end after start and within
// a plausible window around now, and a bound on nesting and on list lengths. Every
// refusal names the field ("policies[0].summary.total-failure-session-count: missing").
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stsd::tlsrpt {

// A report stsd does not take; what() names the field and the reason.
class ReportRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// RFC 8460 §4.4 failure details (one aggregated kind of failure).
struct FailureDetail {
  std::string result_type;  // §4.3: "certificate-expired", "sts-policy-invalid", ...
  std::string sending_mta_ip;
  std::string receiving_mx_hostname;
  std::string receiving_mx_helo;
  std::string receiving_ip;
  std::string additional_information;
  std::string failure_reason_code;
  uint64_t failed_session_count = 0;
};

// One entry of "policies": the policy the sender applied and what happened under it.
struct PolicyResult {
  std::string policy_type;                 // "sts", "tlsa" or "no-policy-found" (§4.4)
  std::vector<std::string> policy_string;  // the policy's lines as the sender saw them
  std::string policy_domain;               // normalized (lower case, no trailing dot)
  std::vector<std::string> mx_host;        // one string or a list (§4.8 shows one string)
  uint64_t successful = 0;                 // total-successful-session-count
  uint64_t failed = 0;                     // total-failure-session-count
  std::vector<FailureDetail> failures;
};

struct Report {
  std::string organization;  // organization-name
  int64_t start = 0;         // date-range.start-datetime, Unix seconds
  int64_t end = 0;           // date-range.end-datetime
  std::string contact_info;
  std::string report_id;
  std::vector<PolicyResult> policies;
};

struct ReportLimits {
  size_t max_depth = 12;            // JSON nesting (the format itself needs 5)
  size_t max_policies = 1000;       // entries of "policies"
  size_t max_failure_details = 10000;  // per policy
  size_t max_text = 2048;           // octets of any string field
  int64_t max_age_seconds = 90 * 86400;  // a report starting earlier than now minus this is refused
  int64_t max_future_seconds = 86400;    // a report ending later than now plus this is refused
  int64_t max_span_seconds = 31 * 86400; // end - start
};

// Parses and validates one report (JSON text, UTF-8). Throws ReportRefused.
Report parse_report(std::string_view json_text, const ReportLimits& limits, int64_t now);

// RFC 3339 §5.6 date-time ("2016-04-01T00:00:00Z", fractions and offsets allowed) as Unix
// seconds (fractions dropped). Throws ReportRefused naming `field`.
int64_t parse_date_time(std::string_view text, const std::string& field);

// The result types RFC 8460 §4.3 defines; metrics count any other as "other".
bool known_result_type(std::string_view type);
const std::vector<std::string_view>& result_types();

}  // namespace stsd::tlsrpt
