#include "net/address.h"

#include <charconv>

namespace stsd::net {
namespace {

constexpr std::string_view kAddressPort = "ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)";
constexpr std::string_view kAddressOptionalPort = "ADDRESS or ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)";
constexpr std::string_view kListen = "ADDRESS:PORT (IPv6 as [ADDRESS]:PORT, ':PORT' for all)";
constexpr std::string_view kHostPort = "HOST:PORT (IPv6 as [ADDRESS]:PORT)";
constexpr std::string_view kHostOptionalPort = "HOST or HOST:PORT (IPv6 as [ADDRESS]:PORT)";

// The syntax, in one place: where the host ends and the port begins.
struct Split {
  std::string_view host;
  std::optional<std::string_view> port;  // nullopt: no port written
  bool bracketed = false;
  bool several_colons = false;  // an IPv6 address without brackets (so without a port)
  std::string error;
};

Split split(std::string_view text) {
  Split s;
  if (text.empty()) {
    s.error = "it is empty";
    return s;
  }
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      s.error = "'[' has no matching ']'";
      return s;
    }
    s.bracketed = true;
    s.host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        s.error = "expected ':PORT' after ']'";
        return s;
      }
      s.port = rest.substr(1);
    }
    if (s.host.empty()) s.error = "the brackets hold no address";
    return s;
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    s.host = text;
  } else if (text.find(':', colon + 1) != std::string_view::npos) {
    s.host = text;
    s.several_colons = true;
  } else {
    s.host = text.substr(0, colon);
    s.port = text.substr(colon + 1);
  }
  return s;
}

// Sets `port` from the text or the default; returns the reason it cannot.
std::string take_port(const Split& s, std::optional<uint16_t> default_port, uint16_t& port) {
  if (!s.port) {
    if (default_port) {
      port = *default_port;
      return {};
    }
    return s.several_colons ? "an IPv6 address with a port needs brackets, as [ADDRESS]:PORT" : "the port is missing";
  }
  const std::string_view text = *s.port;
  if (text.empty()) return "the port is missing";
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
    return "the port '" + std::string(text) + "' is not a number from 1 to 65535";
  port = static_cast<uint16_t>(value);
  return {};
}

std::optional<boost::asio::ip::address> ip_address(std::string_view host) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  return address;
}

// RFC 1123 §2.1 host names: dot-separated labels of letters, digits and hyphens.
bool is_host_name(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return false;
  size_t label = 0;
  for (const char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ldh || ++label > 63) return false;
  }
  return label > 0;
}

template <class T>
Parsed<T> refuse(std::string_view text, std::string_view form, const std::string& reason) {
  return Parsed<T>::refused("'" + std::string(text) + "' is not " + std::string(form) + ": " + reason);
}

Parsed<AddressPort> address_port(std::string_view text, const Split& s, std::optional<uint16_t> default_port,
                                 std::string_view form) {
  if (!s.error.empty()) return refuse<AddressPort>(text, form, s.error);
  if (s.host.empty()) return refuse<AddressPort>(text, form, "the address is missing");
  AddressPort out;
  if (auto error = take_port(s, default_port, out.port); !error.empty()) return refuse<AddressPort>(text, form, error);
  auto address = ip_address(s.host);
  if (!address) return refuse<AddressPort>(text, form, "'" + std::string(s.host) + "' is not an IP address");
  out.address = *address;
  return out;
}

}  // namespace

Parsed<AddressPort> parse_address_port(std::string_view text, std::optional<uint16_t> default_port) {
  return address_port(text, split(text), default_port, default_port ? kAddressOptionalPort : kAddressPort);
}

Parsed<std::vector<AddressPort>> parse_listen(std::string_view text) {
  const Split s = split(text);
  if (s.error.empty() && s.host.empty() && !s.bracketed && s.port) {
    uint16_t port = 0;
    if (auto error = take_port(s, std::nullopt, port); !error.empty())
      return refuse<std::vector<AddressPort>>(text, kListen, error);
    return std::vector<AddressPort>{{boost::asio::ip::address_v4::any(), port},
                                    {boost::asio::ip::address_v6::any(), port}};
  }
  auto one = address_port(text, s, std::nullopt, kListen);
  if (!one) return Parsed<std::vector<AddressPort>>::refused(one.error());
  return std::vector<AddressPort>{*one};
}

Parsed<HostPort> parse_host_port(std::string_view text, std::optional<uint16_t> default_port) {
  const std::string_view form = default_port ? kHostOptionalPort : kHostPort;
  const Split s = split(text);
  if (!s.error.empty()) return refuse<HostPort>(text, form, s.error);
  if (s.host.empty()) return refuse<HostPort>(text, form, "the host is missing");
  HostPort out;
  if (auto error = take_port(s, default_port, out.port); !error.empty()) return refuse<HostPort>(text, form, error);
  if (!ip_address(s.host)) {
    if (s.bracketed)
      return refuse<HostPort>(text, form, "brackets hold an IP address; '" + std::string(s.host) + "' is not one");
    if (!is_host_name(s.host))
      return refuse<HostPort>(text, form, "'" + std::string(s.host) + "' is not a host name or an IP address");
  }
  out.host = std::string(s.host);
  return out;
}

std::string endpoint_text(const boost::asio::ip::address& address, uint16_t port) {
  const std::string host = address.to_string();
  return (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace stsd::net
