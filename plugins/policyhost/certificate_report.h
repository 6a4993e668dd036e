#pragma once
// What the policy host knows about its certificates, for other parts of stsd (the admin
// API's `stsctl status`/`check`, the confirmer) without linking the policy host.
//
// When `policy_host:` is configured, the service publishes one CertificateReport as a
// process-wide shared object:
//
//   auto report = env.find_shared<stsd::policyhost::CertificateReport>(
//       std::string(stsd::policyhost::kCertificateReportKey));
//   if (report) for (auto& d : report->domains_without_certificate(domains)) ...
//
// (nullptr when no policy host is configured). Every method is thread-safe and reads an
// immutable snapshot: cheap enough to call per admin request.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stsd::policyhost {

inline constexpr std::string_view kCertificateReportKey = "policyhost.certificates";

// The certificate the policy host would present for a TLS server name.
struct CertificateMatch {
  std::string file;          // the file it was loaded from
  std::string matched_name;  // the subjectAltName that matched, e.g. "*.example.com"
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  bool valid_now = false;  // not_before <= now < not_after
};

class CertificateReport {
 public:
  virtual ~CertificateReport() = default;

  // The certificate SNI selects for `host` (e.g. "mta-sts.example.com"; case and a
  // trailing dot do not matter), or nullopt: a handshake for that name fails.
  virtual std::optional<CertificateMatch> certificate_for(std::string_view host) const = 0;

  // Files in cert_dir that were skipped at the last load, each "<file>: <reason>".
  virtual std::vector<std::string> problems() const = 0;

  // The policy host name senders connect to for a policy domain (RFC 8461 §3.3).
  static std::string policy_host_name(std::string_view domain) { return "mta-sts." + std::string(domain); }

  // Of `domains` (policy domains such as "example.com"), those for which no certificate
  // covers mta-sts.<domain>: senders cannot fetch their policy from this host.
  std::vector<std::string> domains_without_certificate(const std::vector<std::string>& domains) const {
    std::vector<std::string> missing;
    for (const auto& domain : domains)
      if (!certificate_for(policy_host_name(domain))) missing.push_back(domain);
    return missing;
  }
};

}  // namespace stsd::policyhost
