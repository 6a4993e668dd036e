#pragma once
// Metrics in the Prometheus text exposition format 0.0.4 (what CoreDNS's `prometheus`
// plugin and Knot's `stats` expose): one registry for the process, filled at scrape time.
//
// Nothing is maintained for metrics on a hot path. A component registers a *collector*,
// a callback that reads the component's own state when /metrics is scraped and writes
// samples into a MetricsWriter. The registration is a handle: destroying it (a plugin
// rebuilt on SIGHUP, a service stopped) removes the collector, and once the destructor
// returns the collector is not running and will not run again.
//
// Counters the DNS path must increment use ShardedCounters: every thread writes its own
// cache-line-aligned shard (a relaxed load and store, no lock, no read-modify-write, no
// allocation after the thread's first increment); a scrape sums the shards.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace stsd {

class Environment;

namespace metrics {

struct Label {
  std::string_view name;
  std::string_view value;
};
using Labels = std::initializer_list<Label>;

enum class Type : uint8_t { Counter, Gauge, Histogram };

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: [a-zA-Z_][a-zA-Z0-9_]*, not
// starting with "__" (reserved by Prometheus).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// Collects the samples of one scrape and renders them. Samples of one name (a family)
// are grouped under a single # HELP / # TYPE header however many collectors, and in
// whatever order, add to it: the format allows each family once. A sample that would
// make the output invalid (bad name, a family redeclared with another type) is left out
// and named in a comment at the end, so one faulty collector cannot spoil the scrape.
class MetricsWriter {
 public:
  void counter(std::string_view name, std::string_view help, Labels labels, double value);
  void gauge(std::string_view name, std::string_view help, Labels labels, double value);
  // `bucket_bounds` are the upper bounds (ascending, without +Inf); `bucket_counts` has
  // one more entry (the +Inf bucket) and holds per-bucket, NOT cumulative, counts.
  // Writes name_bucket{le=...} (cumulative), name_sum and name_count.
  void histogram(std::string_view name, std::string_view help, Labels labels, std::span<const double> bucket_bounds,
                 std::span<const uint64_t> bucket_counts, double sum);
  // A family with no samples still gets its header (e.g. a labelled gauge with nothing
  // to report right now), so dashboards can tell "none" from "not exported".
  void declare(std::string_view name, std::string_view help, Type type);

  std::string render() const;
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  struct Family {
    std::string help;
    Type type;
    std::string samples;  // rendered sample lines
  };
  Family* family(std::string_view name, std::string_view help, Type type);
  bool append_labels(std::string& out, Labels labels, const Label* extra);

  std::map<std::string, Family, std::less<>> families_;  // sorted: stable output
  std::vector<std::string> problems_;
};

// "a\"b\\c\nd" as a label value: backslash, double quote and line feed escaped.
void append_escaped_label_value(std::string& out, std::string_view value);
// Numbers as Prometheus parses them: shortest round-trip form, +Inf, -Inf, NaN.
void append_value(std::string& out, double value);

using Collector = std::function<void(MetricsWriter&)>;

class MetricsRegistry {
  struct Impl;

 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Removes its collector when destroyed or reset; safe after the registry is gone.
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    ~Registration() { reset(); }
    void reset();
    explicit operator bool() const { return id_ != 0; }

   private:
    friend class MetricsRegistry;
    Registration(std::weak_ptr<Impl> impl, uint64_t id) : impl_(std::move(impl)), id_(id) {}
    std::weak_ptr<Impl> impl_;
    uint64_t id_ = 0;
  };

  // `owner` names the collector in messages about it ("confirm", "metrics plugin").
  // Collectors run one at a time, on the scraping thread, under the registry's lock: a
  // collector may take its component's own mutex, but must not register or unregister
  // collectors, and a component must not drop a registration while holding a mutex its
  // collector takes.
  [[nodiscard]] Registration add(std::string owner, Collector collector);

  // Runs every collector and renders the exposition (text/plain; version=0.0.4). A
  // collector that throws is reported in a comment; the other samples are still served.
  std::string scrape() const;

  size_t collector_count() const;

 private:
  std::shared_ptr<Impl> impl_;
};

// The process-wide registry (Environment::shared under the key "metrics").
std::shared_ptr<MetricsRegistry> metrics_registry(Environment& env);

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// A fixed set of `width` counters with one shard per writing thread.
//
// add() is for the query path: after a thread's first call (which registers its shard
// under a mutex and allocates it), it costs a short scan of a thread-local cache plus a
// relaxed load and store on a cache line no other thread writes. Shards belong to the
// object, not to the thread: counts of a thread that exited stay in the sum, and a
// later thread with the same id continues its shard (one writer at a time still).
class ShardedCounters {
 public:
  explicit ShardedCounters(size_t width);
  ~ShardedCounters();
  ShardedCounters(const ShardedCounters&) = delete;
  ShardedCounters& operator=(const ShardedCounters&) = delete;

  size_t width() const { return width_; }

  void add(size_t index, uint64_t amount = 1) {
    Line* shard = local_shard();
    std::atomic<uint64_t>& cell = shard[index / kPerLine].cells[index % kPerLine];
    // Single writer per shard: load+store needs no locked instruction; readers only
    // need to see some recent value.
    cell.store(cell.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }

  // Sums over every shard (scrape time; allocates).
  std::vector<uint64_t> totals() const;
  size_t shard_count() const;

 private:
  static constexpr size_t kPerLine = 8;
  struct alignas(64) Line {  // one cache line: no false sharing between threads
    std::atomic<uint64_t> cells[kPerLine];
  };
  Line* local_shard() {
    const auto& cache = thread_cache();
    for (size_t i = 0; i < kCacheSlots; ++i)
      if (cache.ids[i] == id_) return cache.shards[i];
    return register_thread();
  }
  Line* register_thread();

  // The last few counter sets this thread wrote, by never-reused id. Trivially
  // constructible, so thread-local access needs no initialization guard.
  static constexpr size_t kCacheSlots = 8;
  struct ThreadCache {
    uint64_t ids[kCacheSlots];
    Line* shards[kCacheSlots];
    size_t next;
  };
  static ThreadCache& thread_cache() {
    thread_local ThreadCache cache{};  // zero-initialized; no destructor
    return cache;
  }

  const uint64_t id_;
  const size_t width_;
  const size_t lines_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Line[]>> shards_;
  std::unordered_map<std::thread::id, Line*> by_thread_;
};

}  // namespace metrics
}  // namespace stsd
