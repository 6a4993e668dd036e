#include "settings.h"


#include "net/listen_list.h"

namespace stsd::policyhost {

PolicyHostSettings parse_policy_host_settings(const ConfigNode& section) {
  section.expect_map({"listen", "cert_dir", "cache_max_age", "cert_poll", "threads", "max_header_bytes",
                      "max_connections", "max_connections_per_client", "max_pending_connections",
                      "max_pending_per_client", "requests_per_second", "burst",
                      "handshake_timeout", "request_timeout", "idle_timeout", "access_log"});
  PolicyHostSettings settings;

  stsd::net::ListenList listen;
  listen.add_items(section.require("listen"), "0.0.0.0:443");
  settings.listen = listen.texts();
  settings.endpoints = listen.endpoints();

  settings.cert_dir = section.require("cert_dir").as_path();
  using std::chrono::seconds;
  // RFC 8461 §8.2 suggests a short HTTP cache lifetime so a new policy reaches senders
  // (and any cache in front of us) before the id changes.
  settings.cache_max_age = section.duration_or("cache_max_age", settings.cache_max_age, seconds(0), seconds(86400));
  settings.cert_poll = section.duration_or("cert_poll", settings.cert_poll, seconds(1), seconds(3600));
  settings.threads = static_cast<unsigned>(section.uint_or("threads", settings.threads, 1, 64));
  settings.max_header_bytes = section.uint_or("max_header_bytes", settings.max_header_bytes, 1024, 65536);
  settings.limits.max_connections = section.uint_or("max_connections", settings.limits.max_connections, 1, 1000000);
  settings.limits.max_connections_per_client =
      section.uint_or("max_connections_per_client", settings.limits.max_connections_per_client, 1, 1000000);
  settings.limits.max_pending =
      section.uint_or("max_pending_connections", settings.limits.max_pending, 1, 1000000);
  settings.limits.max_pending_per_client =
      section.uint_or("max_pending_per_client", settings.limits.max_pending_per_client, 1, 1000000);
  settings.limits.requests_per_second = static_cast<double>(
      section.uint_or("requests_per_second", static_cast<uint64_t>(settings.limits.requests_per_second), 0, 1000000));
  settings.limits.burst =
      static_cast<double>(section.uint_or("burst", static_cast<uint64_t>(settings.limits.burst), 1, 1000000));
  settings.handshake_timeout =
      section.duration_or("handshake_timeout", settings.handshake_timeout, seconds(1), seconds(300));
  settings.request_timeout = section.duration_or("request_timeout", settings.request_timeout, seconds(1), seconds(300));
  settings.idle_timeout = section.duration_or("idle_timeout", settings.idle_timeout, seconds(1), seconds(3600));
  settings.access_log = section.bool_or("access_log", settings.access_log);
  return settings;
}

}  // namespace stsd::policyhost
