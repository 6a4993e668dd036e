#include "dns_metrics.h"

#include <exception>

#include "dns/types.h"
#include "environment.h"

namespace stsd::metrics_plugin {
namespace {

constexpr int64_t bound_nanos(double seconds) { return static_cast<int64_t>(seconds * 1e9 + 0.5); }

constexpr std::array<int64_t, DnsBlockMetrics::kBuckets.size()> kBucketNanos = [] {
  std::array<int64_t, DnsBlockMetrics::kBuckets.size()> out{};
  for (size_t i = 0; i < out.size(); ++i) out[i] = bound_nanos(DnsBlockMetrics::kBuckets[i]);
  return out;
}();

}  // namespace

DnsBlockMetrics::DnsBlockMetrics(std::string server_label, MetricsRegistry& registry)
    : server_label_(std::move(server_label)) {
  registration_ =
      registry.add("metrics plugin (server " + server_label_ + ")", [this](MetricsWriter& writer) { collect(writer); });
}

size_t DnsBlockMetrics::type_index(uint16_t qtype) {
  using namespace dns::rrtype;
  switch (qtype) {
    case A:
      return 0;
    case AAAA:
      return 1;
    case TXT:
      return 2;
    case MX:
      return 3;
    case NS:
      return 4;
    case SOA:
      return 5;
    case CNAME:
      return 6;
    case ANY:
      return 7;
    default:
      return 8;  // bounded: a client choosing types cannot grow the label set
  }
}

size_t DnsBlockMetrics::rcode_index(dns::Rcode rcode) {
  switch (rcode) {
    case dns::Rcode::NoError:
      return 0;
    case dns::Rcode::FormErr:
      return 1;
    case dns::Rcode::ServFail:
      return 2;
    case dns::Rcode::NXDomain:
      return 3;
    case dns::Rcode::NotImp:
      return 4;
    case dns::Rcode::Refused:
      return 5;
    case dns::Rcode::BadVers:
      return 6;
    case dns::Rcode::NotAuth:  // TSIG failures (RFC 8945) count as "other"
    case dns::Rcode::BadCookie:
      break;
  }
  return 7;
}

void DnsBlockMetrics::record(dns::Transport transport, uint16_t qtype, bool has_question, dns::Rcode rcode,
                             bool dropped, std::chrono::nanoseconds elapsed) {
  const size_t proto = transport == dns::Transport::Tcp ? 1 : 0;
  const size_t type = has_question ? type_index(qtype) : kTypes.size() - 1;
  counters_.add(kRequestBase + proto * kTypes.size() + type);
  counters_.add(dropped ? kDropped : kResponseBase + rcode_index(rcode));
  const int64_t nanos = elapsed.count() > 0 ? elapsed.count() : 0;
  size_t bucket = 0;
  while (bucket < kBucketNanos.size() && nanos > kBucketNanos[bucket]) ++bucket;
  counters_.add(kBucketBase + bucket);
  counters_.add(kSumNanos, static_cast<uint64_t>(nanos));
}

void DnsBlockMetrics::collect(MetricsWriter& writer) const {
  const auto totals = counters_.totals();
  const std::string_view server = server_label_;
  for (size_t proto = 0; proto < kProtos.size(); ++proto)
    for (size_t type = 0; type < kTypes.size(); ++type)
      writer.counter("stsd_dns_requests_total", "DNS queries that reached the chain, by transport and query type.",
                     {{"server", server}, {"proto", kProtos[proto]}, {"type", kTypes[type]}},
                     static_cast<double>(totals[kRequestBase + proto * kTypes.size() + type]));
  for (size_t rcode = 0; rcode < kRcodes.size(); ++rcode)
    writer.counter("stsd_dns_responses_total", "DNS responses by rcode, as the chain left them.",
                   {{"server", server}, {"rcode", kRcodes[rcode]}}, static_cast<double>(totals[kResponseBase + rcode]));
  writer.counter("stsd_dns_responses_dropped_total",
                 "DNS queries left without a response because a plugin dropped the answer (rrl, acl).",
                 {{"server", server}}, static_cast<double>(totals[kDropped]));
  std::array<uint64_t, kBuckets.size() + 1> buckets{};
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] = totals[kBucketBase + i];
  writer.histogram("stsd_dns_request_duration_seconds",
                   "Time from receiving a query to the end of the chain (queueing included).", {{"server", server}},
                   kBuckets, buckets, static_cast<double>(totals[kSumNanos]) / 1e9);
}

void MetricsPlugin::serve(Query& query, Next next) const {
  try {
    next(query);
  } catch (...) {
    // What the core would answer (SERVFAIL), done here so the query is still counted.
    // The `errors` plugin, when enabled, sits after us and reports the cause.
    query.response.start(dns::Rcode::ServFail, false);
  }
  // Nobody answered: the core's finish() answers REFUSED.
  const dns::Rcode rcode = query.response.answered() ? query.response.rcode() : dns::Rcode::Refused;
  const dns::Request& request = query.request;
  block_->record(request.transport, request.question.type, request.has_question, rcode, query.response.dropped(),
                 std::chrono::steady_clock::now() - request.received);
}

std::unique_ptr<Plugin> make_metrics_plugin(PluginSetup& setup) {
  setup.config.expect_map({});
  std::string label;
  for (const auto& address : setup.listen) label += (label.empty() ? "" : ",") + address;
  // Listen addresses cannot change on reload (a restart is needed), so the label and
  // the block's index identify the same counters across reloads.
  const std::string key = "metrics.dns/" + std::to_string(setup.server_index) + "/" + label;
  Environment& env = setup.env;
  auto block = env.shared<DnsBlockMetrics>(key, [&] {
    auto registry = metrics_registry(env);
    return std::make_shared<DnsBlockMetrics>(label, *registry);
  });
  return std::make_unique<MetricsPlugin>(std::move(block));
}

}  // namespace stsd::metrics_plugin
