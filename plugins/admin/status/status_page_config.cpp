#include "status_page_config.h"


#include "admin_config.h"
#include "net/listen_list.h"

namespace stsd::admin::status {

StatusPageConfig parse_status_page_config(const ConfigNode& section, bool has_storage, bool load_token) {
  section.expect_map({"listen", "token_file"});
  if (!has_storage) section.fail("the status page shows the policy store; set `storage:` too");
  const auto listen = stsd::net::ListenList::of(section, kDefaultListen);
  StatusPageConfig config;
  config.listen = listen.texts();
  config.endpoints = listen.endpoints();
  const stsd::net::ListenAddress* first_outside_loopback = nullptr;
  for (const auto& address : listen.addresses()) {
    for (const auto& endpoint : address.endpoints)
      if (!endpoint.address().is_loopback() && !first_outside_loopback) first_outside_loopback = &address;
  }

  auto token_file = section.get("token_file");
  if (!token_file) {
    // The page names every customer domain and its troubles: off the host, only for
    // those who hold the token.
    if (first_outside_loopback)
      first_outside_loopback->where.fail("'" + first_outside_loopback->text +
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
