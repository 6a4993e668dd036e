#pragma once
// SHA-256 for the store's digests (a policy's content digest, a domain's rotation hash):
// an import computes both for every domain. OpenSSL 3's one-shot SHA256() looks the
// algorithm up in its provider on every call; this looks it up once and keeps one digest
// context per thread.
#include <array>
#include <string>
#include <string_view>

namespace stsd::store {

using Sha256 = std::array<unsigned char, 32>;

// Throws std::runtime_error when OpenSSL cannot compute it (a broken installation).
Sha256 sha256(std::string_view data);
// The same as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace stsd::store
