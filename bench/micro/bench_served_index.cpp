// Micro-benchmarks of the served index (store/served_index.h) at provider scale (issue 15):
//   * BM_PublishBatches/<index size>/<batch>: one iteration queues `batch` new domains and
//     publishes them into an index that starts with `index size` domains (the import's
//     index update per batch). Its time must not grow with the index size.
//   * BM_Find/<index size>: one lookup of a present domain (the DNS hot path).
// Domains are bench/dnsdata.py's (dom<i>.example); the index is built as start-up builds
// it (ServedIndexBuilder), outside the timed loop.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "store/served_index.h"

namespace {

using namespace stsd::store;

std::string benchmark_domain(size_t i) { return "dom" + std::to_string(i) + ".example"; }

Facts benchmark_facts(size_t i) {
  Facts facts;
  facts.confirmed = true;
  facts.version = 1;
  facts.digest = {0x12, 0x34, 0x56, 0x78, 0x9a, static_cast<uint8_t>(i)};
  facts.txt_changed_at = 1764460800;
  facts.settings_changed_at = 1764460800;
  facts.rotation_hash = static_cast<uint32_t>(i * 2654435761u);
  return facts;
}

// An index of `domains` domains, built once per size and kept for the benchmarks that
// follow (building 10M takes seconds).
ServedIndex& index_of(size_t domains) {
  static std::unique_ptr<ServedIndex> index;
  static size_t built = 0;
  if (!index || built != domains) {
    index.reset();
    index = std::make_unique<ServedIndex>();
    ServedIndexBuilder builder(1, domains * 64);
    for (size_t i = 0; i < domains; ++i) builder.add(benchmark_domain(i), benchmark_facts(i));
    builder.build_into(*index);
    built = domains;
  }
  return *index;
}

void BM_PublishBatches(benchmark::State& state) {
  const auto domains = static_cast<size_t>(state.range(0));
  const auto batch = static_cast<size_t>(state.range(1));
  // Rebuilt for every run: the batches grow the index.
  std::unique_ptr<ServedIndex> index = std::make_unique<ServedIndex>();
  {
    ServedIndexBuilder builder(1, domains * 64);
    for (size_t i = 0; i < domains; ++i) builder.add(benchmark_domain(i), benchmark_facts(i));
    builder.build_into(*index);
  }
  const size_t shards_before = index->shard_count();
  size_t next = domains;
  std::vector<std::pair<std::string, Facts>> rows(batch);
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& [domain, facts] : rows) domain = benchmark_domain(next), facts = benchmark_facts(next), ++next;
    state.ResumeTiming();
    for (const auto& [domain, facts] : rows) index->queue(domain, &facts);
    index->publish();
  }
  if (!index->contains(benchmark_domain(next - 1))) state.SkipWithError("the last domain published is missing");
  state.counters["domains_after"] = static_cast<double>(index->count());
  state.counters["shards_before"] = static_cast<double>(shards_before);
  state.counters["shards_after"] = static_cast<double>(index->shard_count());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}
// 500 batches of 20,000 (an import of 10M) into 1M and 10M; 50 into 100k for the shape.
BENCHMARK(BM_PublishBatches)->Args({100'000, 20'000})->Iterations(50)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PublishBatches)->Args({1'000'000, 20'000})->Iterations(500)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PublishBatches)->Args({10'000'000, 20'000})->Iterations(500)->Unit(benchmark::kMillisecond);

void BM_Find(benchmark::State& state) {
  const auto domains = static_cast<size_t>(state.range(0));
  ServedIndex& index = index_of(domains);
  std::vector<std::string> keys;
  for (size_t i = 0; i < 4096; ++i) keys.push_back(wire_key(benchmark_domain((i * 7919) % domains)));
  size_t i = 0, found = 0;
  for (auto _ : state) {
    const std::string& key = keys[i++ & 4095];
    const auto view = index.find({reinterpret_cast<const uint8_t*>(key.data()), key.size()});
    found += view ? 1 : 0;
    benchmark::DoNotOptimize(view);
  }
  if (found != static_cast<size_t>(state.iterations())) state.SkipWithError("a present domain was not found");
}
BENCHMARK(BM_Find)->Arg(1'000'000)->Arg(10'000'000);

}  // namespace

BENCHMARK_MAIN();
