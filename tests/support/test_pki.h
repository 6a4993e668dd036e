#pragma once
// A throw-away certificate authority for tests: EC P-256 keys, certificates with the
// subjectAltNames a test asks for, made in memory with OpenSSL at test time.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace stsd::test {

struct IssuedCertificate {
  std::string certificate_pem;  // the leaf alone
  std::string key_pem;
  std::string chain_pem;  // leaf then CA
};

struct IssueOptions {
  std::vector<std::string> dns_names;  // subjectAltName DNS entries (may be empty)
  std::string common_name = "stsd test leaf";
  std::chrono::seconds not_before{-3600};      // relative to now
  std::chrono::seconds not_after{30 * 86400};  // relative to now
  std::string key_passphrase;                  // non-empty: the key PEM is encrypted
};

class TestPki {
 public:
  TestPki();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  IssuedCertificate issue(const IssueOptions& options);
  IssuedCertificate issue(std::vector<std::string> dns_names) {
    IssueOptions options;
    options.dns_names = std::move(dns_names);
    return issue(options);
  }
  const std::string& ca_pem() const { return ca_pem_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string ca_pem_;
};

void write_file(const std::filesystem::path& path, const std::string& content);

}  // namespace stsd::test
