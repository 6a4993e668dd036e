// Micro-benchmarks of the query hot path that need only the core: decoding the question,
// and lookup + encoding through a minimal stand-in plugin (bench/micro/minimal_plugin.h),
// alone and through the server's own per-query pipeline (QueryProcessor::process, the
// function a worker calls for every UDP datagram and TCP message).
//
// Arguments: the number of domains served. Items processed = queries.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "dns/message.h"
#include "dns/writer.h"
#include "fixed_run.h"
#include "minimal_plugin.h"
#include "packets.h"
#include "plugin.h"
#include "server/query_processor.h"

namespace {

using namespace stsd;
constexpr size_t kStream = 4096;  // distinct packets cycled through (fits in L2 with room)

void BM_DecodeQuery(benchmark::State& state) {
  const auto packets = bench::query_stream(1000, kStream);
  dns::Request request;
  size_t k = 0;
  for (auto _ : state) {
    const auto status = dns::decode_query(packets[k++ % kStream], request);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(request);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DecodeQuery);

// Shared fixtures: building a 1M-name index takes a while; build each size once.
const Chain& minimal_chain(size_t domains) {
  static std::map<size_t, std::unique_ptr<Chain>> chains;
  auto& chain = chains[domains];
  if (!chain) {
    std::vector<std::unique_ptr<Plugin>> plugins;
    plugins.push_back(std::make_unique<bench::MinimalMtaStsPlugin>(domains));
    chain = std::make_unique<Chain>(std::move(plugins));
  }
  return *chain;
}

// Lookup + encode only: the requests are decoded before the timed loop.
void BM_AnswerMinimalPlugin(benchmark::State& state) {
  const size_t domains = static_cast<size_t>(state.range(0));
  const Chain& chain = minimal_chain(domains);
  const auto packets = bench::query_stream(domains, kStream);
  std::vector<dns::Request> requests(kStream);
  for (size_t k = 0; k < kStream; ++k) dns::decode_query(packets[k], requests[k]);
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  size_t k = 0, bytes = 0;
  for (auto _ : state) {
    const dns::Request& request = requests[k++ % kStream];
    writer.begin(request, request.max_response_size());
    Query query{request, writer};
    chain.serve(query);
    bytes += writer.finish().size();
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["bytes/answer"] = static_cast<double>(bytes) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_AnswerMinimalPlugin)->Arg(1000)->Arg(1000000);

// The whole per-query path of a worker: decode, chain, encode (no socket I/O).
// Second argument: every Nth query is an NXDOMAIN (0: all hits).
void BM_ProcessMinimalPlugin(benchmark::State& state) {
  const size_t domains = static_cast<size_t>(state.range(0));
  const Chain& chain = minimal_chain(domains);
  const auto packets = bench::query_stream(domains, kStream, static_cast<size_t>(state.range(1)));
  QueryProcessor processor;
  const ListenerSettings settings;
  const auto client = boost::asio::ip::make_address("127.0.0.1");
  size_t k = 0, bytes = 0;
  for (auto _ : state) {
    bytes +=
        processor.process(packets[k++ % kStream], dns::Transport::Udp, client, 53000, chain, settings)
            .size();
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ProcessMinimalPlugin)->Args({1000, 0})->Args({1000, 10})->Args({1000000, 0});

}  // namespace

STSD_BENCH_DEFINE_FIXED_RUN

int main(int argc, char** argv) {
  if (auto code = stsd::bench::maybe_fixed_run(argc, argv, [](size_t domains) { return &minimal_chain(domains); }))
    return *code;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
