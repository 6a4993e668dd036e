#pragma once
// Joins plain-word parts ("mx1.example.com mx2.example.net", "a -> b") for messages.
#include <string>
#include <string_view>
#include <vector>

namespace stsd::confirm {

inline std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

}  // namespace stsd::confirm
