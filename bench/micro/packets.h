#pragma once
// Query packets for the micro-benchmarks: what a resolver sends for an MTA-STS lookup
// (RFC 8461 §3.1: TXT at _mta-sts.<domain>), with an EDNS(0) OPT record as every
// current resolver adds (RFC 6891).
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace stsd::bench {

// The i-th benchmark domain, as the harness names them (bench/dnsdata.py).
inline std::string bench_domain(size_t i) { return "dom" + std::to_string(i) + ".example"; }

inline std::vector<uint8_t> query_packet(std::string_view name, uint16_t qtype, uint16_t id, bool edns = true) {
  std::vector<uint8_t> p = {
      static_cast<uint8_t>(id >> 8),     static_cast<uint8_t>(id), 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0,
      static_cast<uint8_t>(edns ? 1 : 0)};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    p.push_back(static_cast<uint8_t>(dot - start));
    p.insert(p.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  p.push_back(0);
  p.insert(p.end(), {static_cast<uint8_t>(qtype >> 8), static_cast<uint8_t>(qtype), 0, 1});
  if (edns) p.insert(p.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});  // OPT, 1232 octets
  return p;
}

// `count` packets for random names among `domains` domains; every `nx_every`-th one asks
// a name below an existing _mta-sts zone (NXDOMAIN), 0 for none. Fixed seed: every run
// and every plugin sees the same stream.
inline std::vector<std::vector<uint8_t>> query_stream(size_t domains, size_t count, size_t nx_every = 0) {
  std::mt19937_64 rng(8461);
  std::vector<std::vector<uint8_t>> out;
  out.reserve(count);
  for (size_t k = 0; k < count; ++k) {
    const size_t i = rng() % domains;
    std::string name = "_mta-sts." + bench_domain(i);
    if (nx_every && k % nx_every == nx_every - 1) name = "nx" + std::to_string(k) + "." + name;
    out.push_back(query_packet(name, 16, static_cast<uint16_t>(k)));
  }
  return out;
}

}  // namespace stsd::bench
