#pragma once
// The `rrl` plugin: response rate limiting, so that stsd is a poor reflector for
// amplification attacks (the technique of BIND's rate-limit, NSD's rrl-* and Knot's rrl
// module). It lets the rest of the chain answer, classifies the answer, and counts it in
// a token bucket per client prefix and class (and name, for positive and NODATA
// answers); over the rate, UDP answers are dropped, every `slip`-th one sent truncated
// instead so that a real client behind a spoofed prefix retries over TCP.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bucket_table.h"
#include "dns/writer.h"
#include "metrics.h"
#include "net/prefix.h"
#include "plugin.h"
#include "registry.h"
#include "throttled_log.h"

namespace stsd::rrl {

enum class ResponseClass : uint8_t { Positive, NxDomain, NoData, Referral, Error };
inline constexpr size_t kClassCount = 5;
// Config keys and metric labels, in ResponseClass order.
inline constexpr std::array<std::string_view, kClassCount> kClassNames = {"positive", "nxdomain", "nodata", "referral",
                                                                          "error"};

// The class of the answer the chain left in `response` (not yet finished): NXDOMAIN;
// any other rcode but NOERROR, or nobody answered (REFUSED from the core): error; NOERROR
// with answer records: positive; without, not authoritative and with records in
// authority: a referral; otherwise NODATA.
ResponseClass classify(const dns::ResponseWriter& response);

// Names only split the buckets of answers a client cannot make up: a positive or NODATA
// answer exists for a name in the zone. NXDOMAIN, referral and error answers share one
// bucket per prefix and class, or random names would multiply a spoofer's budget.
constexpr bool keyed_by_name(ResponseClass response_class) {
  return response_class == ResponseClass::Positive || response_class == ResponseClass::NoData;
}

struct Settings {
  static constexpr uint32_t kDefaultRate = 100;
  static constexpr uint32_t kMaxRate = 1'000'000;
  static constexpr uint32_t kMaxSlip = 100;

  // Answers per second per bucket, by class; 0: that class is not limited.
  std::array<uint32_t, kClassCount> rates{kDefaultRate, kDefaultRate, kDefaultRate, kDefaultRate, kDefaultRate};
  uint32_t slip = 2;  // 0: drop every limited answer; 1: truncate every one; N: every Nth
  unsigned ipv4_prefix = 24;
  unsigned ipv6_prefix = 56;
  std::vector<net::AddressPrefix> exempt;
  bool log_only = false;
  size_t table_size = BucketTable::kDefaultSize;
};

// Parses the plugin's section (`rrl: {}` gives the defaults); errors name file:line.
Settings parse_settings(const ConfigNode& config);

// What the limiter did, by class: stsd_rrl_dropped_total, stsd_rrl_slipped_total,
// stsd_rrl_limited_log_only_total. One per server block, kept across reloads.
class LimiterMetrics {
 public:
  enum Outcome : size_t { Dropped, Slipped, LoggedOnly, kOutcomeCount };

  LimiterMetrics(std::string server_label, metrics::MetricsRegistry& registry);
  void count(Outcome outcome, ResponseClass response_class) {
    counters_.add(outcome * kClassCount + static_cast<size_t>(response_class));
  }
  void collect(metrics::MetricsWriter& writer) const;

 private:
  std::string server_label_;
  metrics::ShardedCounters counters_{kOutcomeCount * kClassCount};
  metrics::MetricsRegistry::Registration registration_;  // last: unregisters first
};

class RrlPlugin final : public Plugin {
 public:
  RrlPlugin(Settings settings, std::shared_ptr<LimiterMetrics> metrics, uint64_t seed);
  std::string_view name() const override { return "rrl"; }
  void serve(Query& query, Next next) const override;

  const Settings& settings() const { return settings_; }

 private:
  // The bucket key: class, address family and the client's prefix, and for positive and
  // NODATA answers the query name. Returns its length in `key`.
  size_t bucket_key(const dns::Request& request, ResponseClass response_class, uint8_t* key) const;
  bool exempted(const dns::Request& request) const;
  void report_limiting(const dns::Request& request, ResponseClass response_class) const;

  const Settings settings_;
  std::shared_ptr<LimiterMetrics> metrics_;
  mutable BucketTable buckets_;
  mutable log::ThrottledLog log_;
};

std::unique_ptr<Plugin> make_rrl_plugin(PluginSetup& setup);

}  // namespace stsd::rrl

void stsd_register_rrl(stsd::Registry& registry);
