#pragma once
// ASCII character rules shared by the store's parsers: policy files, domain names, TLS-RPT
// URIs and the id are ASCII by definition (RFC 8461 §3.2, RFC 1123 §2.1), so no locale.
#include <string>
#include <string_view>

namespace stsd::store::ascii {

inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = lower(c);
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

}  // namespace stsd::store::ascii
