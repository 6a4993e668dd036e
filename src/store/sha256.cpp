#include "store/sha256.h"

#include <stdexcept>

#include <openssl/evp.h>

namespace stsd::store {

namespace {

const EVP_MD* sha256_algorithm() {
  static EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return algorithm;
}

struct DigestContext {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(context); }
};

}  // namespace

Sha256 sha256(std::string_view data) {
  thread_local DigestContext local;
  const EVP_MD* algorithm = sha256_algorithm();
  Sha256 digest{};
  unsigned int length = 0;
  if (algorithm == nullptr || local.context == nullptr ||
      EVP_DigestInit_ex2(local.context, algorithm, nullptr) != 1 ||
      EVP_DigestUpdate(local.context, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(local.context, digest.data(), &length) != 1 || length != digest.size())
    throw std::runtime_error("SHA-256 failed (OpenSSL)");
  return digest;
}

std::string sha256_hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  const Sha256 digest = sha256(data);
  std::string hex(2 * digest.size(), '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace stsd::store
