#include "vantage.h"

#include <charconv>

namespace stsd::confirm {

std::string Vantage::to_string() const {
  std::string host = address.to_string();
  if (port == kHttpsPort) return host;
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

namespace {

std::optional<uint16_t> parse_port(std::string_view text, std::string& error) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    error = "port '" + std::string(text) + "' is not a number from 1 to 65535";
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

std::optional<boost::asio::ip::address> parse_address(std::string_view text, std::string& error) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) {
    error = "'" + std::string(text) + "' is not an IP address (a vantage is ADDR or ADDR:PORT, e.g. 192.0.2.7:443)";
    return std::nullopt;
  }
  return address;
}

}  // namespace

std::optional<Vantage> parse_vantage(std::string_view text, uint16_t default_port, std::string& error) {
  Vantage vantage;
  vantage.port = default_port;
  if (text.empty()) {
    error = "empty vantage (expected ADDR or ADDR:PORT)";
    return std::nullopt;
  }
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = "'" + std::string(text) + "' has '[' without ']'";
      return std::nullopt;
    }
    auto address = parse_address(text.substr(1, close - 1), error);
    if (!address) return std::nullopt;
    if (!address->is_v6()) {
      error = "'" + std::string(text) + "': brackets are for IPv6 addresses only";
      return std::nullopt;
    }
    vantage.address = *address;
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "'" + std::string(text) + "': expected ':PORT' after ']'";
        return std::nullopt;
      }
      auto port = parse_port(rest.substr(1), error);
      if (!port) return std::nullopt;
      vantage.port = *port;
    }
    return vantage;
  }
  auto first_colon = text.find(':');
  if (first_colon != std::string_view::npos && text.find(':', first_colon + 1) == std::string_view::npos) {
    // Exactly one colon: IPv4 with a port.
    auto address = parse_address(text.substr(0, first_colon), error);
    if (!address) return std::nullopt;
    auto port = parse_port(text.substr(first_colon + 1), error);
    if (!port) return std::nullopt;
    vantage.address = *address;
    vantage.port = *port;
    return vantage;
  }
  auto address = parse_address(text, error);  // IPv4 alone, or IPv6 alone (several colons)
  if (!address) return std::nullopt;
  vantage.address = *address;
  return vantage;
}

}  // namespace stsd::confirm
