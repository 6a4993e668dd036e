#pragma once
// The `tlsrpt:` top-level section (README.md, "Syntax").
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "config.h"
#include "tlsrpt/intake.h"

namespace stsd::tlsrpt {

struct ServiceSettings {
  IntakeSettings intake;
  // HTTPS intake (RFC 8460 §3); no listener: reports arrive through the admin API only.
  std::vector<boost::asio::ip::tcp::endpoint> listen;
  std::string path = "/tlsrpt";
  std::filesystem::path certificate, key;
  double requests_per_second = 2;  // per client address (IPv4, or IPv6 /64)
  double burst = 20;
  size_t max_connections = 256;
  std::chrono::seconds sweep_interval{3600};
  bool operator==(const ServiceSettings& other) const;
};

ServiceSettings parse_settings(const ConfigNode& section);

}  // namespace stsd::tlsrpt
