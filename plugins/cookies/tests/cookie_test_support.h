#pragma once
// Hex in and out for the cookie tests: the RFCs write cookies and secrets in hex.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "siphash.h"

namespace stsd::cookies::test {

inline std::vector<uint8_t> from_hex(std::string_view hex) {
  EXPECT_EQ(hex.size() % 2, 0u) << hex;
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

inline std::string to_hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

inline SipKey key_from_hex(std::string_view hex) {
  const auto bytes = from_hex(hex);
  EXPECT_EQ(bytes.size(), 16u) << hex;
  return SipKey::from_bytes(std::span<const uint8_t, 16>(bytes.data(), 16));
}

}  // namespace stsd::cookies::test
