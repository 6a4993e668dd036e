// Fills a store folder with N benchmark domains through the store's own writer
// (PolicyStore::import with confirm_now), without HTTP, JSON rows or the dry-run pass:
// the quick way to a 1M or 10M store for start-up and memory measurements. The domains
// are bench/dnsdata.py's: dom<i>.example, enforce, mx "mx1.<d> *.mail.<d>", max_age 604800.
//
//   stsd_fill_store FOLDER COUNT [--from FIRST] [--batch ROWS] [--served-only]
//
// --served-only writes only what start-up reads, with the store's encoder: the served
// record (mtasts/s/<domain>) of each domain, confirmed at version 1, and the schema key;
// in seconds rather than the import's minutes, for the served index's memory and load time
// (not a store the admin API can change: it has no domain records).
//
// Prints one line per 10 batches (rows reached, rows per second) and the time per batch
// spent in the store. A store that already holds some of the domains gets them again
// (import stages an identical policy as a no-op).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "clock.h"
#include "store/database.h"
#include "store/keys.h"
#include "store/policy_id.h"
#include "store/policy_store.h"
#include "store/served_record.h"

namespace {

using namespace stsd;

struct Arguments {
  std::string folder;
  size_t count = 0;
  size_t first = 0;
  size_t batch = 20000;
  bool served_only = false;
};

size_t parse_count(std::string_view what, const char* text) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') throw std::runtime_error(std::string(what) + ": '" + text + "' is not a number");
  return static_cast<size_t>(value);
}

Arguments parse(int argc, char** argv) {
  if (argc < 3) throw std::runtime_error("usage: stsd_fill_store FOLDER COUNT [--from FIRST] [--batch ROWS]");
  Arguments args{argv[1], parse_count("COUNT", argv[2])};
  for (int i = 3; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--served-only") {
      args.served_only = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) throw std::runtime_error(std::string(flag) + " needs a value");
    if (flag == "--from")
      args.first = parse_count(flag, argv[i + 1]);
    else if (flag == "--batch")
      args.batch = parse_count(flag, argv[i + 1]);
    else
      throw std::runtime_error("unknown option " + std::string(flag));
  }
  if (args.batch == 0) throw std::runtime_error("--batch must be at least 1");
  return args;
}

// The i-th benchmark domain's import row (bench/dnsdata.py write_csv).
store::ImportItem benchmark_item(size_t i) {
  std::string domain = "dom" + std::to_string(i) + ".example";
  store::Policy policy{store::Mode::Enforce, {"mx1." + domain, "*.mail." + domain}, 604800};
  return store::ImportItem{std::move(domain), std::nullopt, std::move(policy)};
}

// The served records of domains [first, first + count) and the schema key, in batches.
void write_served_only(const Arguments& args) {
  auto database = store::Database::open(args.folder);
  rocksdb::DB& db = database->db();
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  rocksdb::WriteBatch batch;
  batch.Put(std::string(store::keys::kSchema), std::to_string(store::PolicyStore::kSchemaVersion));
  for (size_t i = args.first; i < args.first + args.count; ++i) {
    const std::string domain = benchmark_item(i).domain;
    store::Facts facts;
    facts.confirmed = true;
    facts.version = 1;
    const uint32_t hash = store::rotation_hash(domain);
    facts.digest = {static_cast<uint8_t>(hash), static_cast<uint8_t>(hash >> 8), static_cast<uint8_t>(hash >> 16),
                    static_cast<uint8_t>(hash >> 24), 0, 1};
    facts.txt_changed_at = facts.settings_changed_at = facts.created_at = now;
    facts.rotation_hash = hash;
    batch.Put(store::keys::served(domain), store::encode_served_record(facts));
    if (batch.Count() >= args.batch || i + 1 == args.first + args.count) {
      const auto status = db.Write(rocksdb::WriteOptions(), &batch);
      if (!status.ok()) throw std::runtime_error("write failed: " + status.ToString());
      batch.Clear();
    }
  }
  const auto status = db.Flush(rocksdb::FlushOptions());
  if (!status.ok()) throw std::runtime_error("flush failed: " + status.ToString());
  std::printf("wrote the served records of %zu domains\n", args.count);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Arguments args = parse(argc, argv);
    if (args.served_only) {
      write_served_only(args);
      return 0;
    }
    auto store = std::make_shared<store::PolicyStore>(store::Database::open(args.folder),
                                                      std::make_shared<SystemClock>());
    const auto started = std::chrono::steady_clock::now();
    std::vector<store::ImportItem> items;
    double store_seconds = 0;
    size_t batches = 0;
    for (size_t at = args.first; at < args.first + args.count; at += items.size()) {
      items.clear();
      for (size_t i = at; i < std::min(args.first + args.count, at + args.batch); ++i) items.push_back(benchmark_item(i));
      const auto t0 = std::chrono::steady_clock::now();
      store->import(items, /*confirm_now=*/true, "stsd_fill_store");
      store_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (++batches % 10 == 0 || at + items.size() == args.first + args.count) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::printf("%zu domains, %.1f s, %.0f rows/s, %.3f s per batch in the store\n", at + items.size() - args.first,
                    elapsed, static_cast<double>(at + items.size() - args.first) / elapsed,
                    store_seconds / static_cast<double>(batches));
        std::fflush(stdout);
      }
    }
    std::printf("store holds %zu domains\n", store->domain_count());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stsd_fill_store: %s\n", e.what());
    return 1;
  }
}
