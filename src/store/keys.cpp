#include "store/keys.h"

#include <algorithm>

namespace stsd::store::keys {

namespace {

// `prefix`, `domain`, "/" and `number` in `width` decimal digits, zero-padded: one
// allocation (an import writes three event keys a domain).
std::string numbered(std::string_view prefix, std::string_view domain, uint64_t number, size_t width) {
  std::string key;
  key.resize(prefix.size() + domain.size() + 1 + width);
  char* out = key.data();
  out = std::copy(prefix.begin(), prefix.end(), out);
  out = std::copy(domain.begin(), domain.end(), out);
  *out++ = '/';
  for (size_t i = width; i-- > 0; number /= 10) out[i] = static_cast<char>('0' + number % 10);
  return key;
}

}  // namespace

std::string domain(std::string_view domain) { return std::string(kDomainPrefix).append(domain); }
std::string served(std::string_view domain) { return std::string(kServedPrefix).append(domain); }
std::string last_number(std::string_view domain) { return std::string(kLastNumberPrefix).append(domain); }
std::string retiring(std::string_view domain) { return std::string(kRetiringPrefix).append(domain); }
std::string version_prefix(std::string_view domain) { return std::string(kVersionPrefix).append(domain).append("/"); }

std::string version(std::string_view domain, uint32_t number) { return numbered(kVersionPrefix, domain, number, 10); }

std::string event_prefix(std::string_view domain) { return std::string(kEventPrefix).append(domain).append("/"); }

std::string event(std::string_view domain, uint64_t seq) { return numbered(kEventPrefix, domain, seq, 20); }

}  // namespace stsd::store::keys
