#pragma once
// The `cookies` chain plugin: DNS cookies (RFC 7873) with interoperable server cookies
// (RFC 9018). It hands every client that sends a COOKIE option a server cookie, answers
// a wrong or expired one over UDP with BADCOOKIE, and marks queries with a valid one as
// coming from a proven address (Query::address_proven), which rate limiting spares.
#include <array>
#include <memory>
#include <string>

#include "metrics.h"
#include "plugin.h"
#include "registry.h"
#include "secret_schedule.h"

namespace stsd::cookies {

// The counters of one server block, kept in Environment::shared across reloads (a
// Prometheus counter that resets reads as a restart).
class CookieMetrics {
 public:
  // How queries arrived; bounded, whatever clients send.
  enum Kind : size_t { None, ClientOnly, Valid, Invalid, Malformed, kKinds };
  static constexpr std::array<const char*, kKinds> kKindLabels = {"none", "client_only", "valid", "invalid",
                                                                  "malformed"};

  CookieMetrics(std::string server_label, metrics::MetricsRegistry& registry);
  void count_query(Kind kind) { counters_.add(kind); }
  void count_badcookie() { counters_.add(kBadCookie); }
  void count_renewed() { counters_.add(kRenewed); }
  void collect(metrics::MetricsWriter& writer) const;

 private:
  static constexpr size_t kBadCookie = kKinds;
  static constexpr size_t kRenewed = kKinds + 1;
  std::string server_label_;
  metrics::ShardedCounters counters_{kKinds + 2};
  metrics::MetricsRegistry::Registration registration_;  // last: unregisters before the counters go
};

class CookiesPlugin final : public Plugin {
 public:
  CookiesPlugin(SecretSchedule schedule, std::shared_ptr<Clock> clock, std::shared_ptr<CookieMetrics> metrics)
      : schedule_(schedule), clock_(std::move(clock)), metrics_(std::move(metrics)) {}
  std::string_view name() const override { return "cookies"; }
  void serve(Query& query, Next next) const override;

 private:
  const SecretSchedule schedule_;
  const std::shared_ptr<Clock> clock_;  // wall clock: cookie timestamps and secret periods
  const std::shared_ptr<CookieMetrics> metrics_;
};

// `cookies: {}` or `cookies: {secret: HEX | [HEX, HEX], secret_lifetime: DURATION}`.
std::unique_ptr<Plugin> make_cookies_plugin(PluginSetup& setup);

// A 32-hex-digit secret as written in the config (RFC 9018 §5: 128 bits); the error
// names the node's place.
SipKey parse_secret(const ConfigNode& node);

// Defaults and limits of `secret_lifetime` (Knot's cookies module: 26 hours, at most 36
// days).
inline constexpr std::chrono::seconds kDefaultSecretLifetime = std::chrono::hours(26);
inline constexpr std::chrono::seconds kMaxSecretLifetime = std::chrono::hours(36 * 24);

}  // namespace stsd::cookies

void stsd_register_cookies(stsd::Registry& registry);
