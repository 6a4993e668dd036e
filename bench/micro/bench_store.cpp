// The store's write path over a real RocksDB in a temporary folder (issue 15: a million
// domains imported in ten seconds).
// * BM_StoreCommit: one synced commit of N operations of the import's key shape, as a
//   WriteBatch and as an ingested table file (store/bulk_commit.h): where ingestion starts
//   to pay (kIngestMinOperations).
// * BM_StoreImportMillion: a million new domains in requests of N items (fewer with
//   STSD_BENCH_IMPORT_TOTAL, e.g. 100000 under callgrind).
// * BM_StoreImport / BM_StoreCheckImport: PolicyStore::import and its dry run of new
//   domains in requests of N items, per item (profile with perf record -g).
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <rocksdb/write_batch.h>

#include "clock.h"
#include "heap.h"
#include "store/database.h"
#include "store/disk.h"
#include "store/policy_store.h"

namespace {

namespace fs = std::filesystem;
using namespace stsd::store;

class TempFolder {
 public:
  TempFolder() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("stsd-bench-store-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The keys one imported domain writes, with values of their usual sizes.
void add_domain_keys(rocksdb::WriteBatch& batch, uint64_t n, uint64_t& event) {
  char domain[48];
  std::snprintf(domain, sizeof domain, "dom%llu.example", static_cast<unsigned long long>(n));
  const std::string d(domain);
  batch.Put("mtasts/d/" + d, std::string(258, 'd'));
  batch.Put("mtasts/s/" + d, std::string(65, 's'));
  batch.Put("mtasts/v/" + d + "/0000000001", std::string(238, 'v'));
  for (int i = 0; i < 3; ++i) {
    char key[96];
    std::snprintf(key, sizeof key, "mtasts/e/%s/%020llu", domain, static_cast<unsigned long long>(++event));
    batch.Put(key, std::string(160, 'e'));
  }
}

void BM_StoreCommit(benchmark::State& state) {
  const bool ingest = state.range(0) != 0;
  const auto domains = static_cast<uint64_t>(state.range(1));
  TempFolder folder;
  StorageOptions options;
  options.min_free_bytes = 0;
  options.ingest_min_operations = ingest ? 0 : std::numeric_limits<size_t>::max();
  auto database = Database::open(folder.path(), options);
  Disk disk(*database);
  uint64_t next = 0, event = 0;
  for (auto _ : state) {
    state.PauseTiming();
    rocksdb::WriteBatch batch;
    for (uint64_t i = 0; i < domains; ++i) add_domain_keys(batch, next++, event);
    state.ResumeTiming();
    disk.commit(batch);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * domains));
  state.SetLabel(ingest ? "ingested" : "WriteBatch");
}
BENCHMARK(BM_StoreCommit)
    ->ArgNames({"ingest", "domains"})
    ->ArgsProduct({{0, 1}, {50, 200, 500, 1000, 5000, 20000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

std::vector<ImportItem> import_items(uint64_t from, uint64_t count) {
  std::vector<ImportItem> items;
  items.reserve(count);
  for (uint64_t i = from; i < from + count; ++i) {
    const std::string d = "dom" + std::to_string(i) + ".example";
    items.push_back({d, std::nullopt, Policy{Mode::Enforce, {"mx1." + d, "*.mail." + d}, 604800}});
  }
  return items;
}

void run_import(benchmark::State& state, bool dry_run) {
  const auto count = static_cast<uint64_t>(state.range(0));
  TempFolder folder;
  auto clock = std::make_shared<stsd::ManualClock>(std::chrono::system_clock::now());
  StorageOptions options;
  options.min_free_bytes = 0;
  PolicyStore store(Database::open(folder.path(), options), clock);
  uint64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const auto items = import_items(next, count);
    next += count;
    state.ResumeTiming();
    if (dry_run)
      benchmark::DoNotOptimize(store.check_import(items, true, "bench"));
    else
      benchmark::DoNotOptimize(store.import(items, true, "bench"));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * count));
}

// A million new domains in requests of N items into one store, as `stsctl import` sends
// them: the time of the whole import, with the process's CPU time (RocksDB's background
// compactions included) as a counter.
// The heap policy stsd runs with (src/heap.h).
const bool kHeapAsInStsd = (stsd::heap::configure(), true);

// STSD_BENCH_IMPORT_TOTAL: fewer domains than the million, for callgrind.
const uint64_t kImportTotal = [] {
  const char* total = std::getenv("STSD_BENCH_IMPORT_TOTAL");
  return total ? std::strtoull(total, nullptr, 10) : 1000000;
}();

void BM_StoreImportMillion(benchmark::State& state) {
  const auto count = static_cast<uint64_t>(state.range(0));
  TempFolder folder;
  auto clock = std::make_shared<stsd::ManualClock>(std::chrono::system_clock::now());
  StorageOptions options;
  options.min_free_bytes = 0;
  PolicyStore store(Database::open(folder.path(), options), clock);
  const auto cpu = [] {
    timespec now{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
  };
  const double cpu_before = cpu();
  uint64_t next = 0;
  for (auto _ : state) {
    for (uint64_t done = 0; done < kImportTotal; done += count) {
      state.PauseTiming();
      const auto items = import_items(next, count);
      next += count;
      state.ResumeTiming();
      benchmark::DoNotOptimize(store.import(items, true, "bench"));
    }
  }
  state.counters["process_cpu_s"] = cpu() - cpu_before;
  state.SetItemsProcessed(static_cast<int64_t>(next));
}
BENCHMARK(BM_StoreImportMillion)->ArgName("items")->Arg(5000)->Arg(20000)->Arg(50000)->Iterations(1)->Unit(
    benchmark::kSecond)->UseRealTime();

void BM_StoreImport(benchmark::State& state) { run_import(state, false); }
void BM_StoreCheckImport(benchmark::State& state) { run_import(state, true); }
BENCHMARK(BM_StoreImport)->ArgName("items")->Arg(500)->Arg(5000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StoreCheckImport)->ArgName("items")->Arg(5000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
