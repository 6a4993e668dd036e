#include "mx_coverage.h"

#include "confirmer.h"
#include "store/policy_store.h"

namespace stsd::confirm {

std::string matching_pattern(const std::vector<std::string>& patterns, const std::string& host) {
  for (const auto& pattern : patterns)
    if (store::mx_pattern_matches(pattern, host)) return pattern;
  return "";
}

MxCoverage mx_coverage(const std::string& domain, const MxLookup& mx, const std::vector<std::string>& patterns) {
  MxCoverage coverage;
  coverage.domain = domain;
  switch (mx.status) {
    case LookupStatus::Failed:
      coverage.error = mx.describe(domain, "MX");
      return coverage;
    case LookupStatus::NxDomain:
      coverage.resolved = true;  // a domain that does not exist receives no mail
      return coverage;
    case LookupStatus::NoData:
      // RFC 5321 §5.1: no MX means the domain itself is the mail host.
      coverage.resolved = true;
      coverage.no_mx = true;
      coverage.hosts.push_back({domain, 0, matching_pattern(patterns, domain)});
      return coverage;
    case LookupStatus::Ok:
      break;
  }
  coverage.resolved = true;
  if (mx.null_mx()) {
    coverage.null_mx = true;
    return coverage;
  }
  for (const auto& record : mx.records)
    coverage.hosts.push_back({record.host, record.preference, matching_pattern(patterns, record.host)});
  return coverage;
}

MxCoverage ConfirmEngine::check_mx_coverage(const std::string& domain_text, const std::vector<std::string>& patterns) {
  std::string domain;
  try {
    domain = store::normalize_domain(domain_text);
  } catch (const std::exception& e) {
    MxCoverage coverage;
    coverage.domain = domain_text;
    coverage.error = e.what();
    return coverage;
  }
  return mx_coverage(domain, runtime()->dns->mx(domain), patterns);
}

}  // namespace stsd::confirm
