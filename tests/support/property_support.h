#pragma once
// Helpers of the property tests over the store (tests/store and the mtasts plugin's).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace stsd::store::test_support {

// "a.example" -> "\1a\7example" (the index's key), built independently of the store.
inline std::vector<uint8_t> as_wire(const std::string& domain) {
  std::vector<uint8_t> out;
  size_t start = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string::npos) dot = domain.size();
    out.push_back(static_cast<uint8_t>(dot - start));
    out.insert(out.end(), domain.begin() + static_cast<std::ptrdiff_t>(start),
               domain.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  return out;
}

// STSD_PROPERTY_RUNS / STSD_PROPERTY_STEPS scale the property tests.
inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

}  // namespace stsd::store::test_support
