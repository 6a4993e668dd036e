#pragma once
// The `metrics` chain plugin (CoreDNS's `prometheus`): counts every query of its server
// block by transport and type, every response by rcode, and the time from receiving the
// query to the end of the chain. It sits first in the chain (plugins/CMakeLists.txt), so
// it sees the answer every other plugin gave.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "dns/message.h"
#include "metrics.h"
#include "plugin.h"
#include "registry.h"

namespace stsd::metrics_plugin {

using metrics::metrics_registry;
using metrics::MetricsRegistry;
using metrics::MetricsWriter;
using metrics::ShardedCounters;

// The counters of one server block. Kept in Environment::shared across reloads, so a
// SIGHUP does not reset counters (Prometheus reads a reset as a restart).
class DnsBlockMetrics {
 public:
  static constexpr std::array<const char*, 9> kTypes = {"A", "AAAA", "TXT", "MX", "NS", "SOA", "CNAME", "ANY", "other"};
  static constexpr std::array<const char*, 2> kProtos = {"udp", "tcp"};
  static constexpr std::array<const char*, 8> kRcodes = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                         "NOTIMP",  "REFUSED", "BADVERS",  "other"};
  // Upper bounds in seconds. An authoritative answer from memory takes microseconds;
  // the upper buckets show queueing behind a busy worker.
  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.5,    1.0};

  DnsBlockMetrics(std::string server_label, MetricsRegistry& registry);

  // The query path: no lock, no allocation after this thread's first query.
  // `dropped`: a plugin dropped the answer (rrl, acl), nothing was sent; counted apart
  // from the responses.
  void record(dns::Transport transport, uint16_t qtype, bool has_question, dns::Rcode rcode, bool dropped,
              std::chrono::nanoseconds elapsed);

  const std::string& server_label() const { return server_label_; }
  void collect(MetricsWriter& writer) const;

  static size_t type_index(uint16_t qtype);
  static size_t rcode_index(dns::Rcode rcode);

 private:
  static constexpr size_t kRequestBase = 0;
  static constexpr size_t kResponseBase = kRequestBase + kTypes.size() * kProtos.size();
  static constexpr size_t kDropped = kResponseBase + kRcodes.size();
  static constexpr size_t kBucketBase = kDropped + 1;
  static constexpr size_t kSumNanos = kBucketBase + kBuckets.size() + 1;
  static constexpr size_t kWidth = kSumNanos + 1;

  std::string server_label_;
  ShardedCounters counters_{kWidth};
  MetricsRegistry::Registration registration_;  // last: unregisters before the counters go
};

class MetricsPlugin final : public Plugin {
 public:
  explicit MetricsPlugin(std::shared_ptr<DnsBlockMetrics> block) : block_(std::move(block)) {}
  std::string_view name() const override { return "metrics"; }
  void serve(Query& query, Next next) const override;

 private:
  std::shared_ptr<DnsBlockMetrics> block_;
};

// `metrics: {}` inside a server block's plugins. The server label is the block's listen
// addresses joined with ",".
std::unique_ptr<Plugin> make_metrics_plugin(PluginSetup& setup);

}  // namespace stsd::metrics_plugin
