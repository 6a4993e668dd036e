// The `rrl` section: parsed once at load into Settings; every error names file:line.
#include <string>

#include "rrl_plugin.h"

namespace stsd::rrl {

Settings parse_settings(const ConfigNode& config) {
  config.expect_map({"rate", "rates", "slip", "ipv4_prefix", "ipv6_prefix", "exempt", "log_only", "table_size"});
  Settings settings;
  const auto rate = static_cast<uint32_t>(config.uint_or("rate", Settings::kDefaultRate, 0, Settings::kMaxRate));
  settings.rates.fill(rate);
  if (auto rates = config.get("rates")) {
    rates->expect_map({kClassNames[0], kClassNames[1], kClassNames[2], kClassNames[3], kClassNames[4]});
    static_assert(kClassCount == 5, "every class is a key of rates:");
    for (size_t c = 0; c < kClassCount; ++c)
      settings.rates[c] = static_cast<uint32_t>(rates->uint_or(kClassNames[c], rate, 0, Settings::kMaxRate));
  }
  settings.slip = static_cast<uint32_t>(config.uint_or("slip", settings.slip, 0, Settings::kMaxSlip));
  settings.ipv4_prefix = static_cast<unsigned>(config.uint_or("ipv4_prefix", settings.ipv4_prefix, 0, 32));
  settings.ipv6_prefix = static_cast<unsigned>(config.uint_or("ipv6_prefix", settings.ipv6_prefix, 0, 128));
  if (auto exempt = config.get("exempt")) {
    for (const auto& item : exempt->items()) {
      const std::string text = item.as_string();
      auto prefix = net::parse_prefix(text);
      if (!prefix)
        item.fail("'" + text + "' is not an address prefix (192.0.2.0/24, 2001:db8::/48 or an address; the bits "
                               "after the length must be zero)");
      settings.exempt.push_back(*prefix);
    }
  }
  settings.log_only = config.bool_or("log_only", settings.log_only);
  settings.table_size = config.uint_or("table_size", settings.table_size, 1, BucketTable::kMaxSize);
  return settings;
}

}  // namespace stsd::rrl
