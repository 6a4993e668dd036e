#pragma once
// A fixed number of queries through the whole per-query path, outside Google Benchmark,
// so that `valgrind --tool=callgrind --toggle-collect=stsd_bench_fixed_queries` counts
// the instructions of exactly N queries (bench/callgrind.sh divides by N).
//   <benchmark binary> --fixed-queries=N [--domains=D] [--nx-every=K]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "packets.h"
#include "plugin.h"
#include "server/query_processor.h"

// Not inlined and with C linkage: a stable symbol name for --toggle-collect.
extern "C" [[gnu::noinline]] size_t stsd_bench_fixed_queries(stsd::QueryProcessor& processor,
                                                             const std::vector<std::vector<uint8_t>>& packets,
                                                             const stsd::Chain& chain, size_t count);

namespace stsd::bench {

// Returns an exit code when argv asks for a fixed run, nullopt otherwise.
// `make_chain(domains)` builds the chain to measure (nullptr: cannot, message printed).
inline std::optional<int> maybe_fixed_run(int argc, char** argv,
                                          const std::function<const Chain*(size_t)>& make_chain) {
  size_t queries = 0, domains = 1000, nx_every = 0;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* flag) -> const char* {
      const size_t n = std::strlen(flag);
      return std::strncmp(argv[i], flag, n) == 0 ? argv[i] + n : nullptr;
    };
    if (const char* v = value("--fixed-queries="))
      queries = std::strtoull(v, nullptr, 10);
    else if (const char* v = value("--domains="))
      domains = std::strtoull(v, nullptr, 10);
    else if (const char* v = value("--nx-every="))
      nx_every = std::strtoull(v, nullptr, 10);
  }
  if (queries == 0) return std::nullopt;
  if (domains == 0) {
    std::fprintf(stderr, "--domains must be at least 1\n");
    return 2;
  }
  const Chain* chain = make_chain(domains);
  if (chain == nullptr) return 1;
  const auto packets = query_stream(domains, 4096, nx_every);
  QueryProcessor processor;
  const size_t bytes = stsd_bench_fixed_queries(processor, packets, *chain, queries);
  std::printf("queries: %zu\ndomains: %zu\nnx_every: %zu\nresponse_bytes: %zu\n", queries, domains, nx_every, bytes);
  return 0;
}

}  // namespace stsd::bench

inline size_t stsd_bench_fixed_queries_impl(stsd::QueryProcessor& processor,
                                            const std::vector<std::vector<uint8_t>>& packets, const stsd::Chain& chain,
                                            size_t count) {
  static const auto client = boost::asio::ip::make_address("127.0.0.1");
  static const stsd::ListenerSettings settings;
  size_t bytes = 0;
  for (size_t k = 0; k < count; ++k)
    bytes += processor
                 .process(packets[k % packets.size()], stsd::dns::Transport::Udp, client, 53000, chain, settings)
                 .size();
  return bytes;
}

// Each benchmark binary defines it once with STSD_BENCH_DEFINE_FIXED_RUN.
#define STSD_BENCH_DEFINE_FIXED_RUN                                                            \
  extern "C" size_t stsd_bench_fixed_queries(stsd::QueryProcessor& processor,                  \
                                             const std::vector<std::vector<uint8_t>>& packets, \
                                             const stsd::Chain& chain, size_t count) {         \
    return stsd_bench_fixed_queries_impl(processor, packets, chain, count);                    \
  }
