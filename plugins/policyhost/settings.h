#pragma once
// The `policy_host:` section, parsed once into an immutable value.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "config.h"
#include "http/connection_limits.h"

namespace stsd::policyhost {

struct PolicyHostSettings {
  std::vector<std::string> listen;  // as written, for messages
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  std::filesystem::path cert_dir;
  std::chrono::seconds cache_max_age{60};  // Cache-Control (RFC 8461 §8.2)
  std::chrono::seconds cert_poll{5};       // cert_dir change check
  unsigned threads = 1;
  size_t max_header_bytes = 8192;  // larger: 431
  // Pending: accepted, but the TLS handshake and the first request header not done yet
  // (http/connection_limits.h); a full pending pool closes its oldest connection.
  http::ConnectionLimits::Settings limits{.max_connections = 1024,
                                          .max_connections_per_client = 32,
                                          .max_pending = 256,
                                          .max_pending_per_client = 8,
                                          .requests_per_second = 10,
                                          .burst = 40};
  std::chrono::seconds handshake_timeout{5};
  std::chrono::seconds request_timeout{10};  // whole request header, and each write
  std::chrono::seconds idle_timeout{30};     // keep-alive wait for the next request
  bool access_log = true;

  bool same_listen(const PolicyHostSettings& other) const { return endpoints == other.endpoints; }
};

// Validates the section; every error names file:line and key (ConfigError).
PolicyHostSettings parse_policy_host_settings(const ConfigNode& section);

}  // namespace stsd::policyhost
