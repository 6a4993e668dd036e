#pragma once
// A stand-in for the mtasts plugin's answering path, used to measure the core's share of
// a query (decode, chain, writer) without the store: a flat hash of the lowercase wire
// name `_mta-sts.<domain>.` to a pre-rendered TXT rdata, NS-delegation mode (each
// `_mta-sts.<domain>.` is a zone apex; names below it are NXDOMAIN with the SOA).
// Immutable after construction, so concurrent serve() calls need no lock.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/name.h"
#include "dns/rdata.h"
#include "plugin.h"

namespace stsd::bench {

class MinimalMtaStsPlugin final : public Plugin {
 public:
  // Serves `_mta-sts.<domain>.` for domains 0..count-1 (bench_domain).
  explicit MinimalMtaStsPlugin(size_t count, uint32_t ttl = 300);

  std::string_view name() const override { return "bench-minimal"; }
  void serve(Query& query, Next next) const override;

 private:
  struct Entry {
    dns::Name apex;
    std::vector<uint8_t> txt_rdata;
    std::vector<uint8_t> soa_rdata;
  };
  struct WireHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  const Entry* find(std::span<const uint8_t> wire) const;

  std::unordered_map<std::string, Entry, WireHash, std::equal_to<>> zones_;
  uint32_t ttl_;
};

}  // namespace stsd::bench
