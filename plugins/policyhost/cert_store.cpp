#include "cert_store.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <tuple>

#include "utc_time.h"

namespace stsd::policyhost {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter>;

// A certificate file is a few KiB; anything far larger is not one, and reading it whole
// would let a stray file in cert_dir eat memory.
constexpr uintmax_t kMaxFileBytes = 1 << 20;

// Mozilla's "intermediate" TLS 1.2 suites without DHE (no DH parameters to manage): every
// MTA-STS sender in the facts table speaks at least one of them. TLS 1.3 suites are
// OpenSSL's defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Drains OpenSSL's (thread-local) error queue into one message, so that a failure here
// does not leak into the next, unrelated TLS operation on this thread.
std::string openssl_errors(std::string_view what) {
  std::string message(what);
  bool first = true;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    message += first ? ": " : "; ";
    message += buffer;
    first = false;
  }
  return message;
}

// Never prompt on the terminal for a pass phrase: an encrypted key is a bad file.
int refuse_password(char*, int, int, void*) { return 0; }

std::string read_file(const fs::path& path) {
  std::error_code error;
  auto size = fs::file_size(path, error);
  if (error) throw std::runtime_error("cannot read: " + error.message());
  if (size > kMaxFileBytes) throw std::runtime_error("larger than 1 MiB, not a certificate file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open for reading");
  std::string data(static_cast<size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

BioPtr memory_bio(const std::string& data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) throw std::runtime_error(openssl_errors("BIO_new_mem_buf"));
  return bio;
}

std::vector<X509Ptr> read_certificates(const std::string& pem) {
  auto bio = memory_bio(pem);
  std::vector<X509Ptr> certificates;
  // PEM_read_bio_X509 skips blocks of other types (the key in a .pem file).
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, refuse_password, nullptr)) certificates.emplace_back(cert);
  ERR_clear_error();  // the loop always ends with "no start line"
  return certificates;
}

PkeyPtr read_private_key(const std::string& pem) {
  auto bio = memory_bio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_password, nullptr));
  ERR_clear_error();
  return key;
}

Clock::time_point to_time_point(const ASN1_TIME* time) {
  std::tm tm{};
  if (!time || ASN1_TIME_to_tm(time, &tm) != 1) throw std::runtime_error("unreadable validity date");
  return utc_time_point(tm);
}

// "*.example.com" (a whole leftmost label) is the only wildcard form clients match
// (RFC 6125 §6.4.3); "f*.example.com" or "*.*.example.com" cannot select anything here.
bool usable_san(const std::string& name) {
  if (name.find('*') == std::string::npos) return true;
  return name.size() > 2 && name.starts_with("*.") && name.find('*', 1) == std::string::npos &&
         name.find('.', 2) != std::string::npos;
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> names;
  GeneralNamesPtr general(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  ERR_clear_error();
  if (!general) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(general.get()); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(general.get(), i);
    if (entry->type != GEN_DNS) continue;
    const ASN1_IA5STRING* text = entry->d.dNSName;
    std::string_view raw(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                         static_cast<size_t>(ASN1_STRING_length(text)));
    auto name = normalize_host(raw);
    if (name && usable_san(*name) && std::find(names.begin(), names.end(), *name) == names.end())
      names.push_back(std::move(*name));
  }
  return names;
}

CertificateIndex::FileStamp stamp_of(const fs::path& path, std::error_code& error) {
  CertificateIndex::FileStamp stamp;
  stamp.resolved = fs::canonical(path, error);
  if (error) return stamp;
  stamp.mtime = fs::last_write_time(stamp.resolved, error);
  if (error) return stamp;
  stamp.size = fs::file_size(stamp.resolved, error);
  return stamp;
}

// File times are coarse (a kernel tick, or seconds on some filesystems): a file
// rewritten within the same tick keeps its stamp. Stamps this recent are not trusted.
constexpr auto kRacyWindow = std::chrono::seconds(3);

bool changed_recently(const std::pair<CertificateIndex::FileStamp, std::optional<CertificateIndex::FileStamp>>& stamp,
                      fs::file_time_type at) {
  return stamp.first.mtime + kRacyWindow > at || (stamp.second && stamp.second->mtime + kRacyWindow > at);
}

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error(openssl_errors("SHA-256"));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace

SslCtxPtr make_server_context() {
  SslCtxPtr context(SSL_CTX_new(TLS_server_method()));
  if (!context) throw std::runtime_error(openssl_errors("SSL_CTX_new"));
  SSL_CTX* ctx = context.get();
  // RFC 8461 §3.3 requires TLS with a valid certificate; RFC 8996 retired TLS 1.0/1.1.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 || SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1)
    throw std::runtime_error(openssl_errors("TLS settings"));
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  static const unsigned char kSessionContext[] = "stsd-policyhost";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  return context;
}

std::optional<std::string> normalize_host(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return std::nullopt;
  std::string out;
  out.reserve(host.size());
  for (char c : host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '*';
    if (!ok) return std::nullopt;
    out.push_back(c);
  }
  if (out.front() == '.' || out.find("..") != std::string::npos) return std::nullopt;
  return out;
}

std::shared_ptr<const LoadedCertificate> load_certificate(const fs::path& chain_file, const fs::path& key_file) {
  const std::string chain_pem = read_file(chain_file);
  const std::string key_pem = key_file == chain_file ? chain_pem : read_file(key_file);
  return load_certificate(chain_file, chain_pem, key_pem, key_file.filename().string());
}

std::shared_ptr<const LoadedCertificate> load_certificate(const fs::path& chain_file, const std::string& chain_pem,
                                                          const std::string& key_pem, const std::string& key_name) {
  auto certificates = read_certificates(chain_pem);
  if (certificates.empty()) throw std::runtime_error("no PEM certificate in the file");
  PkeyPtr key = read_private_key(key_pem);
  if (!key)
    throw std::runtime_error("no usable private key in " + key_name +
                             " (missing, malformed, or encrypted with a pass phrase)");

  // The leaf is the certificate that belongs to the key; usually it comes first, but
  // a file written as CA-then-leaf still works.
  auto leaf_it = std::find_if(certificates.begin(), certificates.end(),
                              [&](const X509Ptr& cert) { return X509_check_private_key(cert.get(), key.get()) == 1; });
  ERR_clear_error();
  if (leaf_it == certificates.end())
    throw std::runtime_error("the private key does not match any certificate in the file");
  if (leaf_it != certificates.begin()) std::rotate(certificates.begin(), leaf_it, leaf_it + 1);
  X509* leaf = certificates.front().get();

  auto loaded = std::make_shared<LoadedCertificate>();
  loaded->file = chain_file;
  loaded->names = dns_names(leaf);
  if (loaded->names.empty())
    throw std::runtime_error("no DNS name in subjectAltName (senders ignore the common name, RFC 6125 §6.4.4)");
  loaded->not_before = to_time_point(X509_get0_notBefore(leaf));
  loaded->not_after = to_time_point(X509_get0_notAfter(leaf));

  loaded->context = make_server_context();
  SSL_CTX* ctx = loaded->context.get();
  if (SSL_CTX_use_certificate(ctx, leaf) != 1) throw std::runtime_error(openssl_errors("certificate rejected"));
  for (size_t i = 1; i < certificates.size(); ++i)
    if (SSL_CTX_add1_chain_cert(ctx, certificates[i].get()) != 1)
      throw std::runtime_error(openssl_errors("chain certificate rejected"));
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    throw std::runtime_error(openssl_errors("private key rejected"));
  return loaded;
}

CertificateIndex::Stamps CertificateIndex::scan(const fs::path& directory, std::vector<std::string>* problems) {
  Stamps stamps;
  std::error_code error;
  fs::directory_iterator it(directory, error);
  if (error) {
    if (problems) problems->push_back(directory.string() + ": " + error.message());
    return stamps;
  }
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) {
      if (problems) problems->push_back(directory.string() + ": " + error.message());
      break;
    }
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    if (name.starts_with('.')) continue;  // editors' and tools' temporary files
    const std::string extension = path.extension().string();
    if (extension != ".pem" && extension != ".crt") continue;  // .key files belong to a .crt
    std::error_code stamp_error;
    if (!fs::is_regular_file(path, stamp_error)) continue;
    FileStamp stamp = stamp_of(path, stamp_error);
    if (stamp_error) {
      if (problems) problems->push_back(path.string() + ": " + stamp_error.message());
      continue;
    }
    std::optional<FileStamp> key_stamp;
    if (extension == ".crt") {
      fs::path key_path = fs::path(path).replace_extension(".key");
      std::error_code key_error;
      FileStamp key = stamp_of(key_path, key_error);
      if (!key_error) key_stamp = key;
    }
    stamps.emplace(path, std::make_pair(stamp, key_stamp));
  }
  return stamps;
}

std::shared_ptr<const CertificateIndex> CertificateIndex::load(const fs::path& directory,
                                                               const CertificateIndex* previous) {
  auto index = std::make_shared<CertificateIndex>();
  index->loaded_at_ = fs::file_time_type::clock::now();
  index->stamps_ = scan(directory, &index->problems_);
  for (const auto& [file, stamp] : index->stamps_) {
    const bool separate_key = file.extension() == ".crt";
    const fs::path key_file = separate_key ? fs::path(file).replace_extension(".key") : file;
    const FileEntry* old = nullptr;
    bool trusted_stamp = false;
    if (previous) {
      auto old_entry = previous->files_.find(file);
      auto old_stamp = previous->stamps_.find(file);
      if (old_entry != previous->files_.end()) old = &old_entry->second;
      trusted_stamp = old && old_stamp != previous->stamps_.end() && old_stamp->second == stamp &&
                      !changed_recently(stamp, previous->loaded_at_);
    }
    FileEntry entry;
    if (trusted_stamp) {
      entry = *old;
    } else {
      try {
        if (separate_key && !stamp.second)
          throw std::runtime_error("no " + key_file.filename().string() +
                                   " beside it (a .crt needs its key in a same-named .key file)");
        const std::string chain_pem = read_file(file);
        const std::string key_pem = separate_key ? read_file(key_file) : std::string();
        entry.digest = sha256_hex(chain_pem + '\0' + key_pem);
        if (old && old->digest == entry.digest)
          entry = *old;  // touched but not changed: keep the loaded certificate
        else
          entry.certificate =
              load_certificate(file, chain_pem, separate_key ? key_pem : chain_pem, key_file.filename().string());
      } catch (const std::exception& error) {
        ERR_clear_error();
        entry.certificate = nullptr;
        entry.problem = file.string() + ": " + error.what();
      }
    }
    if (entry.certificate) {
      index->certificates_.push_back(entry.certificate);
      for (const auto& name : entry.certificate->names) index->by_name_[name].push_back(entry.certificate.get());
    } else {
      index->problems_.push_back(entry.problem);
    }
    index->racy_ = index->racy_ || changed_recently(stamp, index->loaded_at_);
    index->files_.emplace(file, std::move(entry));
  }
  return index;
}

bool CertificateIndex::same_contents(const CertificateIndex& other) const {
  if (problems_ != other.problems_ || files_.size() != other.files_.size()) return false;
  return std::equal(files_.begin(), files_.end(), other.files_.begin(), [](const auto& a, const auto& b) {
    return a.first == b.first && a.second.digest == b.second.digest && a.second.certificate == b.second.certificate;
  });
}

CertificateIndex::Selection CertificateIndex::select(std::string_view host, Clock::time_point now) const {
  Selection best;
  auto normalized = normalize_host(host);
  if (!normalized || normalized->find('*') != std::string::npos) return best;
  // (valid now, exact rather than wildcard, expires later): larger is better.
  std::tuple<bool, bool, Clock::time_point> best_rank{};
  auto consider = [&](const std::string& key, bool exact) {
    auto it = by_name_.find(key);
    if (it == by_name_.end()) return;
    for (const LoadedCertificate* certificate : it->second) {
      bool valid = certificate->not_before <= now && now < certificate->not_after;
      std::tuple<bool, bool, Clock::time_point> rank{valid, exact, certificate->not_after};
      if (!best.certificate || rank > best_rank) {
        best.certificate = certificate;
        best_rank = rank;
        best.matched_name = it->first;
      }
    }
  };
  consider(*normalized, true);
  if (auto dot = normalized->find('.'); dot != std::string::npos && dot + 1 < normalized->size())
    consider("*" + normalized->substr(dot), false);
  return best;
}

CertificateStore::CertificateStore(fs::path directory)
    : directory_(std::move(directory)), index_(std::make_shared<const CertificateIndex>()) {}

fs::path CertificateStore::directory() const {
  std::lock_guard lock(directory_mutex_);
  return directory_;
}

void CertificateStore::set_directory(fs::path directory) {
  std::lock_guard lock(directory_mutex_);
  if (directory == directory_) return;
  directory_ = std::move(directory);
  directory_changed_ = true;
}

bool CertificateStore::refresh() {
  fs::path directory;
  bool forced;
  {
    std::lock_guard lock(directory_mutex_);
    directory = directory_;
    forced = directory_changed_;
    directory_changed_ = false;
  }
  auto current = snapshot();
  try {
    if (!forced && !current->racy() && CertificateIndex::scan(directory, nullptr) == current->stamps()) return false;
    auto next = CertificateIndex::load(directory, current.get());
    const bool changed = forced || !next->same_contents(*current);
    index_.store(std::move(next), std::memory_order_release);
    return changed;
  } catch (const std::exception&) {
    // Only allocation can fail here (every file error is a reported problem); keep
    // serving the previous set and try again at the next poll.
    ERR_clear_error();
    std::lock_guard lock(directory_mutex_);
    directory_changed_ = directory_changed_ || forced;
    return false;
  }
}

std::optional<CertificateMatch> CertificateStore::certificate_for(std::string_view host) const {
  auto index = snapshot();
  const auto now = Clock::now();
  auto selection = index->select(host, now);
  if (!selection.certificate) return std::nullopt;
  const LoadedCertificate& certificate = *selection.certificate;
  return CertificateMatch{certificate.file.string(), std::string(selection.matched_name), certificate.not_before,
                          certificate.not_after, certificate.not_before <= now && now < certificate.not_after};
}

std::vector<std::string> CertificateStore::problems() const { return snapshot()->problems(); }

}  // namespace stsd::policyhost
