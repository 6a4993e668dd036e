// The `rrl` plugin: the query path (classify, count, drop or slip) and its metrics.
#include "rrl_plugin.h"

#include <chrono>
#include <cstring>
#include <random>

#include "dns/name.h"
#include "environment.h"

namespace stsd::rrl {
namespace {

constexpr size_t kMaxKey = 2 + 16 + dns::kMaxNameLength;

// Copies the first `bits` bits of `address` into `out` and clears the rest.
void put_prefix(uint8_t* out, const uint8_t* address, size_t octets, unsigned bits) {
  for (size_t i = 0; i < octets; ++i) {
    const unsigned kept = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
    const auto mask = static_cast<uint8_t>(kept == 0 ? 0 : 0xff << (8 - kept));
    out[i] = address[i] & mask;
  }
}

uint32_t steady_second(std::chrono::steady_clock::time_point when) {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count());
}

}  // namespace

ResponseClass classify(const dns::ResponseWriter& response) {
  if (!response.answered()) return ResponseClass::Error;  // the core will answer REFUSED
  switch (response.rcode()) {
    case dns::Rcode::NoError:
      break;
    case dns::Rcode::NXDomain:
      return ResponseClass::NxDomain;
    default:
      return ResponseClass::Error;
  }
  if (response.count(dns::Section::Answer) > 0) return ResponseClass::Positive;
  // RFC 1034 §4.3.2: a delegation is answered without AA, with the child's NS in authority.
  if (!response.authoritative() && response.count(dns::Section::Authority) > 0) return ResponseClass::Referral;
  return ResponseClass::NoData;
}

LimiterMetrics::LimiterMetrics(std::string server_label, metrics::MetricsRegistry& registry)
    : server_label_(std::move(server_label)) {
  registration_ =
      registry.add("rrl plugin (server " + server_label_ + ")", [this](metrics::MetricsWriter& w) { collect(w); });
}

void LimiterMetrics::collect(metrics::MetricsWriter& writer) const {
  struct Family {
    const char* name;
    const char* help;
  };
  static constexpr Family kFamilies[kOutcomeCount] = {
      {"stsd_rrl_dropped_total", "UDP answers over the rate limit, not sent."},
      {"stsd_rrl_slipped_total", "UDP answers over the rate limit, sent truncated (TC=1, no records) instead."},
      {"stsd_rrl_limited_log_only_total", "UDP answers over the rate limit, sent anyway (log_only)."},
  };
  const auto totals = counters_.totals();
  for (size_t outcome = 0; outcome < kOutcomeCount; ++outcome)
    for (size_t c = 0; c < kClassCount; ++c)
      writer.counter(kFamilies[outcome].name, kFamilies[outcome].help,
                     {{"server", server_label_}, {"class", kClassNames[c]}},
                     static_cast<double>(totals[outcome * kClassCount + c]));
}

RrlPlugin::RrlPlugin(Settings settings, std::shared_ptr<LimiterMetrics> metrics, uint64_t seed)
    : settings_(std::move(settings)), metrics_(std::move(metrics)), buckets_(settings_.table_size, seed) {}

size_t RrlPlugin::bucket_key(const dns::Request& request, ResponseClass response_class, uint8_t* key) const {
  size_t size = 0;
  key[size++] = static_cast<uint8_t>(response_class);
  const auto client = net::unmapped(request.client);
  if (client.is_v4()) {
    key[size++] = 4;
    const auto bytes = client.to_v4().to_bytes();
    put_prefix(key + size, bytes.data(), bytes.size(), settings_.ipv4_prefix);
    size += bytes.size();
  } else {
    key[size++] = 6;
    const auto bytes = client.to_v6().to_bytes();
    put_prefix(key + size, bytes.data(), bytes.size(), settings_.ipv6_prefix);
    size += bytes.size();
  }
  if (request.has_question && keyed_by_name(response_class)) {
    const auto name = request.question.name.wire();  // lowercased by the decoder
    std::memcpy(key + size, name.data(), name.size());
    size += name.size();
  }
  return size;
}

bool RrlPlugin::exempted(const dns::Request& request) const {
  for (const auto& prefix : settings_.exempt)
    if (prefix.contains(request.client)) return true;
  return false;
}

void RrlPlugin::report_limiting(const dns::Request& request, ResponseClass response_class) const {
  // Once per bucket and second (its first answer over the rate), and the throttled log
  // keeps even a flood from many prefixes to a few lines a second; the line is built
  // only here, off the path of answers that pass.
  const auto client = net::unmapped(request.client);
  const unsigned bits = client.is_v4() ? settings_.ipv4_prefix : settings_.ipv6_prefix;
  std::string text = "rrl: ";
  if (client.is_v4()) {
    auto bytes = client.to_v4().to_bytes();
    put_prefix(bytes.data(), bytes.data(), bytes.size(), bits);
    text += boost::asio::ip::address_v4(bytes).to_string();
  } else {
    auto bytes = client.to_v6().to_bytes();
    put_prefix(bytes.data(), bytes.data(), bytes.size(), bits);
    text += boost::asio::ip::address_v6(bytes).to_string();
  }
  const auto c = static_cast<size_t>(response_class);
  text.append("/").append(std::to_string(bits)).append(" ").append(kClassNames[c]);
  if (request.has_question && keyed_by_name(response_class)) text.append(" ").append(request.question.name.to_text());
  text.append(" over ").append(std::to_string(settings_.rates[c])).append(" answers/s");
  if (settings_.log_only)
    text.append(": would be limited (log_only)");
  else
    text.append(": limited, slip ").append(std::to_string(settings_.slip));
  log_.report(text);
}

void RrlPlugin::serve(Query& query, Next next) const {
  next(query);
  const dns::Request& request = query.request;
  dns::ResponseWriter& response = query.response;
  // TCP proves the client's address (the handshake), and so does a valid server cookie
  // (RFC 7873 §5.2.5): a spoofer can do neither, and only spoofed sources make a reflector.
  if (request.transport != dns::Transport::Udp || query.address_proven || response.dropped()) return;
  if (exempted(request)) return;
  const ResponseClass response_class = classify(response);
  const uint32_t rate = settings_.rates[static_cast<size_t>(response_class)];
  if (rate == 0) return;

  uint8_t key[kMaxKey];
  const size_t key_size = bucket_key(request, response_class, key);
  const Spend spend =
      buckets_.spend(buckets_.hash({key, key_size}), steady_second(request.received), rate);
  if (!spend.limited) return;
  if (spend.over_rate == 1) report_limiting(request, response_class);
  if (settings_.log_only) {
    metrics_->count(LimiterMetrics::LoggedOnly, response_class);
    return;
  }
  // Every slip-th, as BIND counts (Knot draws 1 in slip at random): a truncated answer
  // costs a reflector's victim little, and tells a real client behind the prefix to ask
  // again over TCP (RFC 7766 §5).
  if (settings_.slip != 0 && spend.over_rate % settings_.slip == 0) {
    response.truncate();
    metrics_->count(LimiterMetrics::Slipped, response_class);
  } else {
    response.drop();
    metrics_->count(LimiterMetrics::Dropped, response_class);
  }
}

std::unique_ptr<Plugin> make_rrl_plugin(PluginSetup& setup) {
  Settings settings = parse_settings(setup.config);
  std::string label;
  for (const auto& address : setup.listen) label += (label.empty() ? "" : ",") + address;
  // Counters outlive a reload (Prometheus reads a reset as a restart); the buckets do not,
  // since the table's size may change.
  const std::string key = "rrl.metrics/" + std::to_string(setup.server_index) + "/" + label;
  Environment& env = setup.env;
  auto metrics = env.shared<LimiterMetrics>(key, [&] {
    return std::make_shared<LimiterMetrics>(label, *metrics::metrics_registry(env));
  });
  std::random_device random;
  const uint64_t seed = (uint64_t{random()} << 32) ^ random();
  return std::make_unique<RrlPlugin>(std::move(settings), std::move(metrics), seed);
}

}  // namespace stsd::rrl

void stsd_register_rrl(stsd::Registry& registry) { registry.add_plugin("rrl", stsd::rrl::make_rrl_plugin); }
