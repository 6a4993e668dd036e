#include "net/listen_list.h"

#include "net/address.h"

namespace stsd::net {

ListenList ListenList::of(const ConfigNode& section, const std::string& default_listen) {
  ListenList list;
  if (auto listen = section.get("listen"))
    list.add_items(*listen, default_listen);
  else
    list.add(default_listen, section);
  return list;
}

void ListenList::add(const std::string& text, const ConfigNode& where) {
  const auto parsed = parse_listen(text);
  if (!parsed) where.fail(parsed.error());
  ListenAddress address{text, where, {}};
  for (const auto& endpoint : *parsed) {
    boost::asio::ip::tcp::endpoint tcp(endpoint.address, endpoint.port);
    if (!seen_.insert(tcp).second) where.fail("'" + text + "' is listed twice");
    address.endpoints.push_back(tcp);
  }
  addresses_.push_back(std::move(address));
}

void ListenList::add_items(const ConfigNode& listen, std::string_view example) {
  const auto items = listen.items();
  if (items.empty()) listen.fail("expected an address such as \"" + std::string(example) + "\"");
  for (const auto& item : items) add(item.as_string(), item);
}

std::vector<boost::asio::ip::tcp::endpoint> ListenList::endpoints() const {
  std::vector<boost::asio::ip::tcp::endpoint> all;
  for (const auto& address : addresses_) all.insert(all.end(), address.endpoints.begin(), address.endpoints.end());
  return all;
}

std::vector<std::string> ListenList::texts() const {
  std::vector<std::string> all;
  for (const auto& address : addresses_) all.push_back(address.text);
  return all;
}

}  // namespace stsd::net
