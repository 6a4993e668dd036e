#pragma once
// The policy host's certificates: every file in cert_dir, indexed by its subjectAltName
// DNS names, published as an immutable snapshot that the TLS SNI callback reads.
//
// Files (cert_dir is not searched recursively; names starting with "." are ignored):
//   NAME.pem            the leaf certificate, its chain and the private key in one file
//   NAME.crt + NAME.key the leaf and its chain, and the private key beside it
// A file that cannot be used (unreadable, no certificate, no key, key does not match,
// encrypted key, no DNS subjectAltName) is reported and skipped; the others still load.
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "certificate_report.h"

namespace stsd::policyhost {

struct SslCtxDeleter {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// The TLS settings every context shares: TLS 1.2 and 1.3 only, forward-secret AEAD
// ciphers, no renegotiation, no compression. Throws std::runtime_error.
SslCtxPtr make_server_context();

// One usable certificate file with its ready TLS context.
struct LoadedCertificate {
  std::filesystem::path file;
  std::vector<std::string> names;  // lower case, no trailing dot; "*.example.com" for wildcards
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  SslCtxPtr context;
};

// Loads one certificate (`chain_file`, leaf first) and its key (`key_file`, which may be
// the same file). Throws std::runtime_error naming the reason.
std::shared_ptr<const LoadedCertificate> load_certificate(const std::filesystem::path& chain_file,
                                                          const std::filesystem::path& key_file);
// The same from bytes already read (`key_name` only names the key in messages).
std::shared_ptr<const LoadedCertificate> load_certificate(const std::filesystem::path& chain_file,
                                                          const std::string& chain_pem, const std::string& key_pem,
                                                          const std::string& key_name);

// Lower case, trailing dot removed; nullopt for anything that is not a plausible DNS
// host name (empty, too long, bytes outside [a-z0-9-.*_]).
std::optional<std::string> normalize_host(std::string_view host);

// One generation of cert_dir.
class CertificateIndex {
 public:
  struct FileStamp {
    std::filesystem::path resolved;  // symlinks followed (certbot's live/ links)
    std::filesystem::file_time_type mtime;
    uintmax_t size = 0;
    bool operator==(const FileStamp&) const = default;
  };
  // Key: the certificate file; value: its stamp and, for NAME.crt, the stamp of NAME.key.
  using Stamps = std::map<std::filesystem::path, std::pair<FileStamp, std::optional<FileStamp>>>;

  // Reads `directory`, reusing every certificate of `previous` whose files did not change.
  static std::shared_ptr<const CertificateIndex> load(const std::filesystem::path& directory,
                                                      const CertificateIndex* previous);
  // What load would look at, to decide cheaply whether anything changed.
  static Stamps scan(const std::filesystem::path& directory, std::vector<std::string>* problems);

  // The best certificate for `host`: one valid at `now` before an expired or future one,
  // an exact name before a wildcard (which covers exactly one label, RFC 6125 §6.4.3),
  // then the one that expires last.
  struct Selection {
    const LoadedCertificate* certificate = nullptr;
    std::string_view matched_name;
  };
  Selection select(std::string_view host, std::chrono::system_clock::time_point now) const;

  const std::vector<std::shared_ptr<const LoadedCertificate>>& certificates() const { return certificates_; }
  const std::vector<std::string>& problems() const { return problems_; }
  const Stamps& stamps() const { return stamps_; }
  // True when a file changed so recently that a further change within the same
  // timestamp tick could go unseen (file times are coarse); the next refresh then
  // compares contents instead of trusting the stamps.
  bool racy() const { return racy_; }

 private:
  struct FileEntry {
    std::string digest;                                    // SHA-256 of the bytes read
    std::shared_ptr<const LoadedCertificate> certificate;  // nullptr: see problem
    std::string problem;
  };
  std::vector<std::shared_ptr<const LoadedCertificate>> certificates_;
  std::unordered_map<std::string, std::vector<const LoadedCertificate*>> by_name_;
  std::vector<std::string> problems_;
  Stamps stamps_;
  std::map<std::filesystem::path, FileEntry> files_;
  std::filesystem::file_time_type loaded_at_{};
  bool racy_ = false;

  friend class CertificateStore;
  // Same files with the same contents (the published set would not change).
  bool same_contents(const CertificateIndex& other) const;
};

// The live certificate set: refresh() is called by one thread (the poller), select()
// and the report methods from any thread.
class CertificateStore final : public CertificateReport {
 public:
  explicit CertificateStore(std::filesystem::path directory);

  std::filesystem::path directory() const;
  // Points the store at another folder (config reload); the next refresh loads it.
  void set_directory(std::filesystem::path directory);

  // Reloads when a file was added, removed or changed since the last load (and on the
  // first call). Returns true when the set of certificates or problems changed. Never
  // throws.
  bool refresh();

  std::shared_ptr<const CertificateIndex> snapshot() const { return index_.load(std::memory_order_acquire); }

  std::optional<CertificateMatch> certificate_for(std::string_view host) const override;
  std::vector<std::string> problems() const override;

 private:
  mutable std::mutex directory_mutex_;
  std::filesystem::path directory_;
  bool directory_changed_ = true;
  std::atomic<std::shared_ptr<const CertificateIndex>> index_;
};

}  // namespace stsd::policyhost
