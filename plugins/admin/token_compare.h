#pragma once
// Comparing a presented token with the configured one, for the admin API and the status
// page alike.
#include <cctype>
#include <string_view>

namespace stsd::admin {

// Takes as long whatever the first differing byte (a timing side channel would let a
// client guess the token byte by byte); only the length shows.
inline bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

// HTTP auth schemes and media types compare without case (RFC 9110 §11.1, §8.3.1).
inline bool starts_with_without_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

}  // namespace stsd::admin
