#include "store/keys.h"

#include <cinttypes>
#include <cstdio>

namespace stsd::store::keys {

std::string domain(std::string_view domain) { return std::string(kDomainPrefix).append(domain); }
std::string served(std::string_view domain) { return std::string(kServedPrefix).append(domain); }
std::string last_number(std::string_view domain) { return std::string(kLastNumberPrefix).append(domain); }
std::string retiring(std::string_view domain) { return std::string(kRetiringPrefix).append(domain); }
std::string version_prefix(std::string_view domain) { return std::string(kVersionPrefix).append(domain).append("/"); }

std::string version(std::string_view domain, uint32_t number) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%010" PRIu32, number);
  return version_prefix(domain) + digits;
}

std::string event_prefix(std::string_view domain) { return std::string(kEventPrefix).append(domain).append("/"); }

std::string event(std::string_view domain, uint64_t seq) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020" PRIu64, seq);
  return event_prefix(domain) + digits;
}

}  // namespace stsd::store::keys
