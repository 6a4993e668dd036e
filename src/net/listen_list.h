#pragma once
// The `listen:` key of a service's HTTP listener (metrics, status page, policy host,
// TLS-RPT intake): one address or a list, each as net/address.h reads it. A bad address,
// or one that two items (or ":PORT" and an explicit address) both name, fails at the item
// that wrote it, so every service refuses the same mistakes with the same words.
#include <string>
#include <string_view>
#include <set>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "config.h"

namespace stsd::net {

struct ListenAddress {
  std::string text;  // as written: what logs and errors show
  ConfigNode where;  // the item to blame for it
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
};

class ListenList {
 public:
  // `section`'s `listen:` items, or `default_listen` (blamed on the section) without one.
  static ListenList of(const ConfigNode& section, const std::string& default_listen);

  // Adds `text` (a default needs the section as `where`).
  void add(const std::string& text, const ConfigNode& where);
  // Adds each item of `listen`; an empty list fails with "expected an address such as
  // <example>".
  void add_items(const ConfigNode& listen, std::string_view example);

  const std::vector<ListenAddress>& addresses() const { return addresses_; }
  std::vector<boost::asio::ip::tcp::endpoint> endpoints() const;
  std::vector<std::string> texts() const;

 private:
  std::vector<ListenAddress> addresses_;
  std::set<boost::asio::ip::tcp::endpoint> seen_;
};

}  // namespace stsd::net
