#include "cookies_plugin.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "dns/edns.h"
#include "environment.h"

namespace stsd::cookies {
namespace {

// The random master of the rotating schedule: one per process, kept across reloads
// (Environment::shared), so that a SIGHUP does not fail every cookie clients hold.
struct MasterSecret {
  SipKey key;
};

SipKey random_key() {
  uint8_t bytes[16];
  size_t filled = 0;
  while (filled < sizeof bytes) {
    const ssize_t got = ::getrandom(bytes + filled, sizeof bytes - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error(std::string("cookies: no random secret: getrandom: ") + std::strerror(errno));
    filled += static_cast<size_t>(got);
  }
  return SipKey::from_bytes(bytes);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

SecretSchedule configured_schedule(const ConfigNode& config) {
  const ConfigNode secret = *config.get("secret");
  if (auto lifetime = config.get("secret_lifetime"))
    lifetime->fail("applies only without `secret` (stsd then makes and rotates a secret itself); configured "
                   "secrets are rotated by editing the list and reloading");
  const auto items = secret.items();
  if (items.empty()) secret.fail("lists no secret: give one or two, or leave `secret` out for a rotated random one");
  if (items.size() > 2)
    items[2].fail("at most two secrets: the one that makes cookies, then the previous one, still accepted");
  const SipKey first = parse_secret(items[0]);
  if (items.size() == 1) return SecretSchedule::fixed(first, nullptr);
  const SipKey second = parse_secret(items[1]);
  if (second == first) items[1].fail("is the first secret again");
  return SecretSchedule::fixed(first, &second);
}

SecretSchedule rotating_schedule(const ConfigNode& config, Environment& env) {
  const auto lifetime =
      config.duration_or("secret_lifetime", kDefaultSecretLifetime, std::chrono::seconds(1), kMaxSecretLifetime);
  const auto master =
      env.shared<MasterSecret>("cookies.master", [] { return std::make_shared<MasterSecret>(random_key()); });
  return SecretSchedule::rotating(master->key, lifetime);
}

}  // namespace

CookieMetrics::CookieMetrics(std::string server_label, metrics::MetricsRegistry& registry)
    : server_label_(std::move(server_label)) {
  registration_ =
      registry.add("cookies plugin (server " + server_label_ + ")", [this](metrics::MetricsWriter& writer) { collect(writer); });
}

void CookieMetrics::collect(metrics::MetricsWriter& writer) const {
  const auto totals = counters_.totals();
  const std::string_view server = server_label_;
  for (size_t kind = 0; kind < kKinds; ++kind)
    writer.counter("stsd_cookies_queries_total",
                   "DNS queries by the COOKIE option they carried (RFC 7873): none, a client cookie only, a valid "
                   "server cookie, an invalid or expired one, or a malformed option.",
                   {{"server", server}, {"cookie", kKindLabels[kind]}}, static_cast<double>(totals[kind]));
  writer.counter("stsd_cookies_badcookie_total",
                 "BADCOOKIE answers: an invalid or expired server cookie over UDP (RFC 7873 section 5.2.4).",
                 {{"server", server}}, static_cast<double>(totals[kBadCookie]));
  writer.counter("stsd_cookies_renewed_total",
                 "Valid server cookies answered with a fresh one: over half an hour old, or made with the previous "
                 "secret (RFC 9018 sections 4.3 and 5).",
                 {{"server", server}}, static_cast<double>(totals[kRenewed]));
}

void CookiesPlugin::serve(Query& query, Next next) const {
  const dns::Request& request = query.request;
  if (!request.edns.cookie_present) {
    metrics_->count_query(CookieMetrics::None);
    return next(query);
  }
  const std::span<const uint8_t> option = request.edns.cookie;
  const auto now = clock_->now();
  const uint32_t stamp = cookie_time(now);
  const Secrets secrets = schedule_.at(now);
  const ClientAddress client = ClientAddress::from(request.client);
  const CookieCheck check = check_cookie(option, client, stamp, secrets);

  if (check.verdict == Verdict::Malformed) {
    metrics_->count_query(CookieMetrics::Malformed);
    query.response.start(dns::Rcode::FormErr, false);  // RFC 7873 §5.2.2
    return;
  }

  // The answer's cookie: the client's own, then the server cookie it sent when that is
  // valid and recent, or else a fresh one (RFC 7873 §5.2.3 to §5.2.5).
  uint8_t reply[dns::kClientCookieSize + kServerCookieSize];
  std::memcpy(reply, option.data(), dns::kClientCookieSize);
  const std::span<uint8_t, kServerCookieSize> server_cookie(reply + dns::kClientCookieSize, kServerCookieSize);
  if (check.verdict == Verdict::Valid && !check.renew)
    std::memcpy(server_cookie.data(), option.data() + dns::kClientCookieSize, kServerCookieSize);
  else
    make_server_cookie(secrets.current, option.first<dns::kClientCookieSize>(), client, stamp, server_cookie);

  switch (check.verdict) {
    case Verdict::Valid:
      metrics_->count_query(CookieMetrics::Valid);
      if (check.renew) metrics_->count_renewed();
      // RFC 7873 §5.2.5: the client receives answers at the address it claims.
      query.address_proven = true;
      break;
    case Verdict::ClientOnly:
      metrics_->count_query(CookieMetrics::ClientOnly);
      break;
    case Verdict::Invalid:
      metrics_->count_query(CookieMetrics::Invalid);
      // RFC 7873 §5.2.4 and §5.2.3: over UDP the source may be spoofed, so the client
      // gets BADCOOKIE, no records, and a fresh cookie to retry with. TCP proves the
      // address already: a normal answer, with a fresh cookie (as Knot).
      if (request.transport == dns::Transport::Udp) {
        metrics_->count_badcookie();
        query.response.start(dns::Rcode::BadCookie, false);
        query.response.add_option(dns::edns_option::COOKIE, reply);
        return;
      }
      break;
    case Verdict::Malformed:
      break;
  }
  // Added before the answer is written, so the answer leaves room for it.
  query.response.add_option(dns::edns_option::COOKIE, reply);
  next(query);
}

SipKey parse_secret(const ConfigNode& node) {
  const std::string text = node.as_string();
  constexpr size_t kSecretOctets = 16;
  if (text.size() != 2 * kSecretOctets)
    node.fail("a cookie secret is 32 hex digits (128 bits, RFC 9018 section 5); '" + text + "' has " +
              std::to_string(text.size()) + " characters");
  uint8_t bytes[kSecretOctets];
  for (size_t i = 0; i < kSecretOctets; ++i) {
    const int high = hex_digit(text[2 * i]), low = hex_digit(text[2 * i + 1]);
    if (high < 0 || low < 0)
      node.fail("cookie secret '" + text + "' has a character that is not a hex digit at position " +
                std::to_string(2 * i + (high < 0 ? 1 : 2)));
    bytes[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return SipKey::from_bytes(bytes);
}

std::unique_ptr<Plugin> make_cookies_plugin(PluginSetup& setup) {
  const ConfigNode& config = setup.config;
  config.expect_map({"secret", "secret_lifetime"});
  const SecretSchedule schedule = config.get("secret") ? configured_schedule(config) : rotating_schedule(config, setup.env);

  std::string label;
  for (const auto& address : setup.listen) label += (label.empty() ? "" : ",") + address;
  // Listen addresses do not change on reload, so the block's index and label name the
  // same counters across reloads.
  Environment& env = setup.env;
  const std::string key = "cookies.metrics/" + std::to_string(setup.server_index) + "/" + label;
  auto counters = env.shared<CookieMetrics>(key, [&] {
    auto registry = metrics::metrics_registry(env);
    return std::make_shared<CookieMetrics>(label, *registry);
  });
  return std::make_unique<CookiesPlugin>(schedule, env.clock_ptr(), std::move(counters));
}

}  // namespace stsd::cookies

void stsd_register_cookies(stsd::Registry& registry) {
  registry.add_plugin("cookies", stsd::cookies::make_cookies_plugin);
}
