#include "test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <stdexcept>

namespace stsd::test {
namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;

void check(int ok, const char* what) {
  if (ok != 1) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

KeyPtr new_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw std::runtime_error("test PKI: EVP_EC_gen failed");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (!extension) throw std::runtime_error("test PKI: extension " + value);
  check(X509_add_ext(cert, extension, -1), "X509_add_ext");
  X509_EXTENSION_free(extension);
}

CertPtr make_certificate(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key, long serial,
                         std::chrono::seconds not_before, std::chrono::seconds not_after) {
  CertPtr cert(X509_new());
  check(X509_set_version(cert.get(), 2), "X509_set_version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial), "serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(not_after.count()));
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0),
        "subject");
  check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name), "issuer");
  return cert;
}

std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

std::string pem_of(EVP_PKEY* key, const std::string& passphrase) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (passphrase.empty())
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  else
    PEM_write_bio_PrivateKey(bio, key, EVP_aes_128_cbc(), reinterpret_cast<const unsigned char*>(passphrase.data()),
                             static_cast<int>(passphrase.size()), nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

}  // namespace

struct TestPki::Impl {
  KeyPtr ca_key;
  CertPtr ca_cert;
  long next_serial = 2;
};

TestPki::TestPki() : impl_(std::make_unique<Impl>()) {
  impl_->ca_key = new_key();
  impl_->ca_cert = make_certificate(impl_->ca_key.get(), "stsd test CA", nullptr, nullptr, 1,
                                    std::chrono::seconds(-86400), std::chrono::seconds(365 * 86400));
  add_extension(impl_->ca_cert.get(), impl_->ca_cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_extension(impl_->ca_cert.get(), impl_->ca_cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(impl_->ca_cert.get(), impl_->ca_cert.get(), NID_subject_key_identifier, "hash");
  check(X509_sign(impl_->ca_cert.get(), impl_->ca_key.get(), EVP_sha256()) > 0, "X509_sign CA");
  ca_pem_ = pem_of(impl_->ca_cert.get());
}

TestPki::~TestPki() = default;

IssuedCertificate TestPki::issue(const IssueOptions& options) {
  KeyPtr key = new_key();
  CertPtr cert = make_certificate(key.get(), options.common_name, impl_->ca_cert.get(), impl_->ca_key.get(),
                                  impl_->next_serial++, options.not_before, options.not_after);
  add_extension(cert.get(), impl_->ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), impl_->ca_cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), impl_->ca_cert.get(), NID_authority_key_identifier, "keyid");
  if (!options.dns_names.empty()) {
    std::string san;
    for (const auto& name : options.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + name;
    add_extension(cert.get(), impl_->ca_cert.get(), NID_subject_alt_name, san);
  }
  check(X509_sign(cert.get(), impl_->ca_key.get(), EVP_sha256()) > 0, "X509_sign leaf");
  IssuedCertificate issued;
  issued.certificate_pem = pem_of(cert.get());
  issued.key_pem = pem_of(key.get(), options.key_passphrase);
  issued.chain_pem = issued.certificate_pem + ca_pem_;
  return issued;
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace stsd::test
