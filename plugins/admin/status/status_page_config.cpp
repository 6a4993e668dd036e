#include "status_page_config.h"

#include <set>

#include "admin_config.h"
#include "net/address.h"

namespace stsd::admin::status {

using tcp = boost::asio::ip::tcp;

StatusPageConfig parse_status_page_config(const ConfigNode& section, bool has_storage, bool load_token) {
  section.expect_map({"listen", "token_file"});
  if (!has_storage) section.fail("the status page shows the policy store; set `storage:` too");
  StatusPageConfig config;
  std::set<tcp::endpoint> seen;
  const ConfigNode* first_outside_loopback = nullptr;
  std::string outside_text;
  auto add = [&](const std::string& text, const ConfigNode& where) {
    const auto endpoints = stsd::net::parse_listen(text);
    if (!endpoints) where.fail(endpoints.error());
    for (const auto& endpoint : *endpoints) {
      tcp::endpoint address(endpoint.address, endpoint.port);
      if (!seen.insert(address).second) where.fail("'" + text + "' is listed twice");
      if (!address.address().is_loopback() && !first_outside_loopback) {
        first_outside_loopback = &where;
        outside_text = text;
      }
      config.endpoints.push_back(address);
    }
    config.listen.push_back(text);
  };
  std::vector<ConfigNode> items;
  if (auto listen = section.get("listen")) {
    items = listen->items();
    if (items.empty()) listen->fail("expected an address such as \"127.0.0.1:8054\"");
    for (const auto& item : items) add(item.as_string(), item);
  } else {
    add(kDefaultListen, section);
  }

  auto token_file = section.get("token_file");
  if (!token_file) {
    // The page names every customer domain and its troubles: off the host, only for
    // those who hold the token.
    if (first_outside_loopback)
      first_outside_loopback->fail("'" + outside_text +
                                   "' is not a loopback address; a status page reachable from other hosts needs "
                                   "`token_file:` (browsers log in with any user name and the token as password)");
    return config;
  }
  config.token_file = token_file->as_path();
  if (load_token) {
    const std::string error = read_token_file(config.token_file, config.token);
    if (!error.empty()) token_file->fail(error);
  }
  return config;
}

}  // namespace stsd::admin::status
