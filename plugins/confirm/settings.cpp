#include "settings.h"

#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace stsd::confirm {

namespace {

std::string openssl_error_text() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "no certificate found" : text;
}

}  // namespace

ConfirmSettings parse_settings(const ConfigNode* section) {
  ConfirmSettings settings;
  if (!section) return settings;
  section->expect_map({"interval", "probes", "soak", "timeout", "ca_file", "resolver", "vantages", "drift_interval",
                       "https_port", "max_concurrent_probes", "max_backoff", "verify_window"});
  using std::chrono::seconds;
  constexpr seconds kDay{86400};
  settings.interval = section->duration_or("interval", settings.interval, seconds(1), kDay);
  settings.probes = static_cast<uint32_t>(section->uint_or("probes", settings.probes, 1, 1000));
  settings.soak = section->duration_or("soak", settings.soak, seconds(0), 30 * kDay);
  // RFC 8461 §3.3 suggests senders wait up to a minute; longer never helps a sender.
  settings.timeout = section->duration_or("timeout", settings.timeout, seconds(1), seconds(60));
  settings.drift_interval = section->duration_or("drift_interval", settings.drift_interval, seconds(1), 7 * kDay);
  settings.max_backoff = section->duration_or("max_backoff", settings.max_backoff, seconds(1), kDay);
  // At least a minute: a round of slow vantages (timeouts) must fit before the rotation.
  settings.verify_window = section->duration_or("verify_window", settings.verify_window, seconds(60), kDay);
  settings.https_port = static_cast<uint16_t>(section->uint_or("https_port", settings.https_port, 1, 65535));
  settings.max_concurrent_probes =
      static_cast<uint32_t>(section->uint_or("max_concurrent_probes", settings.max_concurrent_probes, 1, 1024));

  if (auto node = section->get("ca_file")) {
    auto path = node->as_path();
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
    ERR_clear_error();
    if (!probe || SSL_CTX_load_verify_locations(probe.get(), path.c_str(), nullptr) != 1)
      node->fail("cannot load CA bundle " + path.string() + ": " + openssl_error_text());
    settings.ca_file = path;
  }
  if (auto node = section->get("resolver")) {
    std::string error;
    auto resolver = parse_vantage(node->as_string(), 53, error);
    if (!resolver) node->fail(error);
    settings.resolver = *resolver;
  }
  if (auto node = section->get("vantages")) {
    if (!node->is_sequence() && !node->is_null() && !node->is_scalar())
      node->fail("expected a list of ADDR or ADDR:PORT");
    for (const auto& item : node->items()) {
      std::string error;
      auto vantage = parse_vantage(item.as_string(), settings.https_port, error);
      if (!vantage) item.fail(error);
      for (const auto& seen : settings.vantages)
        if (seen == *vantage) item.fail("vantage " + vantage->to_string() + " is listed twice");
      settings.vantages.push_back(*vantage);
    }
  }
  return settings;
}

}  // namespace stsd::confirm
