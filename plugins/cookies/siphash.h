#pragma once
// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): the
// keyed hash RFC 9018 §4.4 puts in interoperable server cookies.
//
// Our own rather than OpenSSL's EVP_MAC "SIPHASH": a cookie is hashed once or twice per
// query, and EVP_MAC needs a fetched algorithm and an allocated context per key (or a
// context per thread and key, re-keyed by parameter lists); the whole algorithm is
// thirty lines, allocates nothing, and is checked against the reference vectors.
#include <cstdint>
#include <span>

namespace stsd::cookies {

// A 128-bit key as two little-endian words (the reference implementation's k0, k1).
struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;

  static SipKey from_bytes(std::span<const uint8_t, 16> bytes);
  bool operator==(const SipKey&) const = default;
};

uint64_t siphash24(const SipKey& key, std::span<const uint8_t> message);

// The 64-bit result as the reference implementation writes it (little-endian octets),
// which is how RFC 9018 §4.4 places it in the cookie's Hash field.
void store_le64(uint64_t value, std::span<uint8_t, 8> out);
uint64_t load_le64(const uint8_t* in);

}  // namespace stsd::cookies
