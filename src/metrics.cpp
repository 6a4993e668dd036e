#include "metrics.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "environment.h"
#include "logging.h"

namespace stsd::metrics {
namespace {

bool name_char(char c, bool first, bool colon_allowed) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon_allowed && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::Counter:
      return "counter";
    case Type::Gauge:
      return "gauge";
    case Type::Histogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes only backslash and line feed (exposition format 0.0.4).
void append_escaped_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
}

}  // namespace

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, true)) return false;
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, false)) return false;
  return true;
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[64];
  std::to_chars_result result;
  // Counts print as integers ("12", not "12.0" or "1.2e+01") while they are exact.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0)
    result = std::to_chars(buffer, buffer + sizeof buffer, static_cast<int64_t>(value));
  else {
    // Shortest round trip, laid out as Go's strconv.FormatFloat(v, 'g', -1, 64) (what
    // the Prometheus client libraries print, e.g. le="0.0001"): exponent form only
    // below 1e-4 or from 1e6.
    result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    const std::string_view scientific(buffer, static_cast<size_t>(result.ptr - buffer));
    const auto e = scientific.find('e');
    int exponent = 0;
    std::from_chars(scientific.data() + e + 1 + (scientific[e + 1] == '+'), scientific.data() + scientific.size(),
                    exponent);
    if (exponent >= -4 && exponent < 6)
      result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  }
  out.append(buffer, result.ptr);
}

MetricsWriter::Family* MetricsWriter::family(std::string_view name, std::string_view help, Type type) {
  if (!valid_metric_name(name)) {
    problems_.push_back("invalid metric name '" + std::string(name) + "'");
    return nullptr;
  }
  auto it = families_.find(name);
  if (it == families_.end())
    return &families_.emplace(std::string(name), Family{std::string(help), type, {}}).first->second;
  if (it->second.type != type) {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict, bug 105329) on "..." + string&&.
    std::string problem = "'";
    problem.append(name).append("' declared as ").append(type_name(it->second.type));
    problem.append(" and as ").append(type_name(type)).append("; the ").append(type_name(type));
    problem.append(" samples are left out");
    problems_.push_back(std::move(problem));
    return nullptr;
  }
  return &it->second;
}

bool MetricsWriter::append_labels(std::string& out, Labels labels, const Label* extra) {
  if (labels.size() == 0 && !extra) return true;
  out.push_back('{');
  bool first = true;
  auto put = [&](const Label& label) {
    if (!first) out.push_back(',');
    first = false;
    out.append(label.name);
    out += "=\"";
    append_escaped_label_value(out, label.value);
    out.push_back('"');
  };
  for (auto a = labels.begin(); a != labels.end(); ++a) {
    if (!valid_label_name(a->name)) {
      problems_.push_back("invalid label name '" + std::string(a->name) + "'");
      return false;
    }
    for (auto b = labels.begin(); b != a; ++b)
      if (b->name == a->name) {
        problems_.push_back("label '" + std::string(a->name) + "' given twice");
        return false;
      }
    if (extra && extra->name == a->name) {
      problems_.push_back("label '" + std::string(a->name) + "' is reserved here");
      return false;
    }
    put(*a);
  }
  if (extra) put(*extra);
  out.push_back('}');
  return true;
}

void MetricsWriter::declare(std::string_view name, std::string_view help, Type type) { family(name, help, type); }

void MetricsWriter::counter(std::string_view name, std::string_view help, Labels labels, double value) {
  Family* f = family(name, help, Type::Counter);
  if (!f) return;
  std::string line(name);
  if (!append_labels(line, labels, nullptr)) return;
  line.push_back(' ');
  append_value(line, value);
  line.push_back('\n');
  f->samples += line;
}

void MetricsWriter::gauge(std::string_view name, std::string_view help, Labels labels, double value) {
  Family* f = family(name, help, Type::Gauge);
  if (!f) return;
  std::string line(name);
  if (!append_labels(line, labels, nullptr)) return;
  line.push_back(' ');
  append_value(line, value);
  line.push_back('\n');
  f->samples += line;
}

void MetricsWriter::histogram(std::string_view name, std::string_view help, Labels labels,
                              std::span<const double> bucket_bounds, std::span<const uint64_t> bucket_counts,
                              double sum) {
  if (bucket_counts.size() != bucket_bounds.size() + 1) {
    problems_.push_back("histogram '" + std::string(name) + "' has " + std::to_string(bucket_counts.size()) +
                        " counts for " + std::to_string(bucket_bounds.size()) + " bounds (+Inf needs one more)");
    return;
  }
  for (size_t i = 1; i < bucket_bounds.size(); ++i)
    if (!(bucket_bounds[i - 1] < bucket_bounds[i])) {
      problems_.push_back("histogram '" + std::string(name) + "' has bounds out of order");
      return;
    }
  Family* f = family(name, help, Type::Histogram);
  if (!f) return;
  const std::string base(name);
  std::string lines;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bucket_counts.size(); ++i) {
    cumulative += bucket_counts[i];
    std::string le;
    append_value(le, i < bucket_bounds.size() ? bucket_bounds[i] : HUGE_VAL);
    const Label le_label{"le", le};
    lines += base + "_bucket";
    if (!append_labels(lines, labels, &le_label)) return;
    lines.push_back(' ');
    append_value(lines, static_cast<double>(cumulative));
    lines.push_back('\n');
  }
  for (const char* suffix : {"_sum", "_count"}) {
    lines += base + suffix;
    append_labels(lines, labels, nullptr);
    lines.push_back(' ');
    append_value(lines, suffix[1] == 's' ? sum : static_cast<double>(cumulative));
    lines.push_back('\n');
  }
  f->samples += lines;
}

std::string MetricsWriter::render() const {
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " ";
    append_escaped_help(out, f.help);
    out += "\n# TYPE " + name + " ";
    out += type_name(f.type);
    out.push_back('\n');
    out += f.samples;
  }
  for (const auto& problem : problems_) {
    out += "# stsd: sample left out: ";
    append_escaped_help(out, problem);
    out.push_back('\n');
  }
  return out;
}

// ---------------------------------------------------------------------------------------

struct MetricsRegistry::Impl {
  struct Entry {
    std::string owner;
    Collector collector;
  };
  mutable std::mutex mutex;
  uint64_t next_id = 1;
  std::map<uint64_t, Entry> collectors;  // by registration order
};

MetricsRegistry::MetricsRegistry() : impl_(std::make_shared<Impl>()) {}
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Registration::Registration(Registration&& other) noexcept
    : impl_(std::move(other.impl_)), id_(std::exchange(other.id_, 0)) {}

MetricsRegistry::Registration& MetricsRegistry::Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    reset();
    impl_ = std::move(other.impl_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void MetricsRegistry::Registration::reset() {
  if (id_ == 0) return;
  if (auto impl = impl_.lock()) {
    // Taking the lock waits for a scrape in progress: afterwards the collector (and
    // what it captured) is no longer used.
    Impl::Entry removed;
    {
      std::lock_guard lock(impl->mutex);
      auto it = impl->collectors.find(id_);
      if (it != impl->collectors.end()) {
        removed = std::move(it->second);
        impl->collectors.erase(it);
      }
    }
    // `removed` (and its captures) is destroyed outside the lock.
  }
  impl_.reset();
  id_ = 0;
}

MetricsRegistry::Registration MetricsRegistry::add(std::string owner, Collector collector) {
  std::lock_guard lock(impl_->mutex);
  const uint64_t id = impl_->next_id++;
  impl_->collectors.emplace(id, Impl::Entry{std::move(owner), std::move(collector)});
  return Registration(impl_, id);
}

std::string MetricsRegistry::scrape() const {
  MetricsWriter writer;
  std::vector<std::string> failures;
  {
    std::lock_guard lock(impl_->mutex);
    for (const auto& [id, entry] : impl_->collectors) {
      try {
        entry.collector(writer);
      } catch (const std::exception& e) {
        failures.push_back(entry.owner + ": " + e.what());
      } catch (...) {
        failures.push_back(entry.owner + ": unknown error");
      }
    }
  }
  std::string out = writer.render();
  for (const auto& failure : failures) {
    out += "# stsd: collector failed: ";
    for (char c : failure) out.push_back(c == '\n' ? ' ' : c);
    out.push_back('\n');
  }
  if (!failures.empty() || !writer.problems().empty())
    log::warn("metrics: " + std::to_string(failures.size()) + " collector(s) failed and " +
              std::to_string(writer.problems().size()) + " sample(s) were left out (see the comments in /metrics)");
  return out;
}

size_t MetricsRegistry::collector_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->collectors.size();
}

std::shared_ptr<MetricsRegistry> metrics_registry(Environment& env) {
  return env.shared<MetricsRegistry>("metrics", [] { return std::make_shared<MetricsRegistry>(); });
}

// ---------------------------------------------------------------------------------------

namespace {
std::atomic<uint64_t> g_next_counter_set_id{1};
}

ShardedCounters::ShardedCounters(size_t width)
    : id_(g_next_counter_set_id.fetch_add(1, std::memory_order_relaxed)),
      width_(width),
      lines_((width + kPerLine - 1) / kPerLine) {
  if (width == 0) throw std::invalid_argument("ShardedCounters needs at least one counter");
}

ShardedCounters::~ShardedCounters() = default;

ShardedCounters::Line* ShardedCounters::register_thread() {
  Line* shard = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto& slot = by_thread_[std::this_thread::get_id()];
    if (!slot) {
      // C++20: std::atomic's default constructor zero-initializes.
      shards_.push_back(std::make_unique<Line[]>(lines_));
      slot = shards_.back().get();
    }
    shard = slot;
  }
  auto& cache = thread_cache();
  const size_t at = cache.next++ % kCacheSlots;
  cache.ids[at] = id_;
  cache.shards[at] = shard;
  return shard;
}

std::vector<uint64_t> ShardedCounters::totals() const {
  std::vector<uint64_t> sums(width_, 0);
  std::lock_guard lock(mutex_);
  for (const auto& shard : shards_) {
    for (size_t i = 0; i < width_; ++i)
      sums[i] += shard[i / kPerLine].cells[i % kPerLine].load(std::memory_order_relaxed);
  }
  return sums;
}

size_t ShardedCounters::shard_count() const {
  std::lock_guard lock(mutex_);
  return shards_.size();
}

}  // namespace stsd::metrics
