// Micro-benchmarks of the real mtasts plugin's answering path (issue 3, NS-delegation
// mode): the store is a real RocksDB in a temp folder, filled through PolicyStore::import
// with confirmed policies; the plugin is built by its registered factory from YAML, as
// stsd builds it. Arguments: the number of domains served.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "clock.h"
#include "config.h"
#include "dns/message.h"
#include "dns/writer.h"
#include "environment.h"
#include "fixed_run.h"
#include "packets.h"
#include "plugin.h"
#include "registry.h"
#include "server/query_processor.h"
#include "store/policy_store.h"

void stsd_register_mtasts(stsd::Registry& registry);

namespace {

using namespace stsd;
constexpr size_t kStream = 4096;

// prefix + name (appended rather than operator+, which trips GCC 12's -Wrestrict false
// positive, GCC bug 105329).
std::string prefixed(std::string_view prefix, const std::string& name) {
  std::string out;
  out.reserve(prefix.size() + name.size());
  out.append(prefix).append(name);
  return out;
}

// One served data set: a store in a temp folder and the chain [mtasts] over it.
struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<Environment> env;
  std::unique_ptr<Chain> chain;
  std::string error;

  explicit Fixture(size_t domains) {
    char pattern[] = "/tmp/stsd-bench-mtasts-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir = pattern;
    Registry registry;
    stsd_register_mtasts(registry);
    const auto* entry = registry.find_plugin("mtasts");
    if (entry == nullptr) {
      error = "the mtasts plugin is not registered (plugins/mtasts still a scaffold?)";
      return;
    }
    const auto config_path = dir / "stsd.yaml";
    std::ofstream(config_path) << "storage: " << (dir / "store").string() << "\n"
                               << "servers:\n"
                                  "  - listen: [\"127.0.0.1:5300\"]\n"
                                  "    plugins:\n"
                                  "      mtasts:\n"
                                  "        nameservers: [ns1.provider.test.]\n"
                                  "        hostmaster: hostmaster.provider.test.\n"
                                  "        ttl: 300\n";
    env = std::make_unique<Environment>(dir, dir / "store", std::make_shared<SystemClock>(), false);
    auto state = store::PolicyStore::open(*env);
    std::vector<store::ImportItem> batch;
    for (size_t i = 0; i < domains; ++i) {
      const auto domain = bench::bench_domain(i);
      store::Policy policy;
      policy.mode = store::Mode::Enforce;
      policy.mx = {prefixed("mx1.", domain), prefixed("*.mail.", domain)};
      policy.max_age = 604800;
      batch.push_back({domain, std::nullopt, policy});
      if (batch.size() == 10000 || i + 1 == domains) {
        state->import(batch, /*confirm_now=*/true, "bench");
        batch.clear();
      }
    }
    const ConfigNode root = load_config_file(config_path);
    const ConfigNode section = root.require("servers").at(0).require("plugins").require("mtasts");
    const std::vector<std::string> listen = {"127.0.0.1:5300"};
    PendingLoad load;
    PluginSetup setup{*env, section, listen, 0, load};
    std::vector<std::unique_ptr<Plugin>> plugins;
    plugins.push_back(entry->factory(setup));
    load.commit();
    chain = std::make_unique<Chain>(std::move(plugins));
  }
  ~Fixture() {
    chain.reset();
    env.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

std::map<size_t, std::unique_ptr<Fixture>>& fixtures() {
  static std::map<size_t, std::unique_ptr<Fixture>> all;
  return all;
}

Fixture& fixture(size_t domains) {
  auto& f = fixtures()[domains];
  if (!f) f = std::make_unique<Fixture>(domains);
  return *f;
}

// Closes the stores and removes their folders. Called from main: left to static
// destruction, RocksDB would be closed after its own statics are gone (a crash at exit).
void release_fixtures() { fixtures().clear(); }

// Lookup + encode: requests decoded before the timed loop.
void BM_AnswerMtasts(benchmark::State& state) {
  const size_t domains = static_cast<size_t>(state.range(0));
  Fixture& f = fixture(domains);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
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
    f.chain->serve(query);
    bytes += writer.finish().size();
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["bytes/answer"] = static_cast<double>(bytes) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_AnswerMtasts)->Arg(1000)->Arg(1000000)->Unit(benchmark::kNanosecond);

// Decode + lookup + encode, as a worker runs it per datagram. Second argument: every Nth
// query is an NXDOMAIN (0: all hits).
void BM_ProcessMtasts(benchmark::State& state) {
  const size_t domains = static_cast<size_t>(state.range(0));
  Fixture& f = fixture(domains);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const auto packets = bench::query_stream(domains, kStream, static_cast<size_t>(state.range(1)));
  QueryProcessor processor;
  const ListenerSettings settings;
  const auto client = boost::asio::ip::make_address("127.0.0.1");
  size_t k = 0, bytes = 0;
  for (auto _ : state) {
    bytes +=
        processor.process(packets[k++ % kStream], dns::Transport::Udp, client, 53000, *f.chain, settings)
            .size();
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ProcessMtasts)->Args({1000, 0})->Args({1000, 10})->Args({1000000, 0});

}  // namespace

STSD_BENCH_DEFINE_FIXED_RUN

int main(int argc, char** argv) {
  auto make_chain = [](size_t domains) -> const Chain* {
    Fixture& f = fixture(domains);
    if (!f.error.empty()) {
      std::fprintf(stderr, "%s\n", f.error.c_str());
      return nullptr;
    }
    return f.chain.get();
  };
  if (auto code = stsd::bench::maybe_fixed_run(argc, argv, make_chain)) {
    release_fixtures();
    return *code;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  release_fixtures();
  return 0;
}
