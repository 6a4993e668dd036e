#pragma once
// Addresses as operators write them, read by one parser everywhere: listen keys (servers,
// metrics, policy_host, admin), vantages, the confirmer's resolver, stsctl --connect.
//
//   192.0.2.7:53        ADDRESS:PORT
//   [2001:db8::7]:53    IPv6 in brackets (a colon cannot both end the address and start the port)
//   [192.0.2.7]:53      brackets around IPv4 mean the same as none: stores already hold such vantages
//   192.0.2.7           no port, where the caller has a default; so does a bare 2001:db8::7
//   :53                 (listen keys only) every address, IPv4 and IPv6
//
// Every refusal names the text and the reason, e.g. "'192.0.2.7:0' is not ADDRESS:PORT
// (IPv6 as [ADDRESS]:PORT): the port '0' is not a number from 1 to 65535".
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace stsd::net {

// A parsed value, or the reason the text was refused.
template <class T>
class Parsed {
 public:
  Parsed(T value) : value_(std::move(value)) {}
  static Parsed refused(std::string error) {
    Parsed parsed;
    parsed.error_ = std::move(error);
    return parsed;
  }
  explicit operator bool() const { return value_.has_value(); }
  const T& operator*() const { return *value_; }
  const T* operator->() const { return &*value_; }
  const std::string& error() const { return error_; }

 private:
  Parsed() = default;
  std::optional<T> value_;
  std::string error_;
};

struct AddressPort {
  boost::asio::ip::address address;
  uint16_t port = 0;
  friend bool operator==(const AddressPort&, const AddressPort&) = default;
};

struct HostPort {
  std::string host;  // a host name, or an IP address without brackets
  uint16_t port = 0;
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// An IP address and a port. Without `default_port` the port must be written.
Parsed<AddressPort> parse_address_port(std::string_view text, std::optional<uint16_t> default_port = std::nullopt);

// A listen key: ADDRESS:PORT, or ":PORT" for 0.0.0.0 and :: (two entries).
Parsed<std::vector<AddressPort>> parse_listen(std::string_view text);

// A host name or an IP address, and a port (a client that resolves the name itself).
Parsed<HostPort> parse_host_port(std::string_view text, std::optional<uint16_t> default_port = std::nullopt);

// "192.0.2.7:53", "[2001:db8::7]:53": the form the parsers read back.
std::string endpoint_text(const boost::asio::ip::address& address, uint16_t port);

}  // namespace stsd::net
