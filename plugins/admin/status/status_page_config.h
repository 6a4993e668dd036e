#pragma once
// The `status:` config section: where the read-only status page listens and the token it
// asks for (README.md in this folder).
//
//   status:
//     listen: "127.0.0.1:8054"      # or a list; loopback by default
//     token_file: status.token      # required when an address is not loopback
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "config.h"

namespace stsd::admin::status {

inline constexpr const char* kDefaultListen = "127.0.0.1:8054";

struct StatusPageConfig {
  std::vector<std::string> listen;  // as written, for messages
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  std::filesystem::path token_file;  // empty: no token asked for (loopback only)
  std::string token;                 // loaded from token_file

  bool operator==(const StatusPageConfig&) const = default;
};

// `section` is the `status:` node (null or {} for the defaults). With `load_token`,
// reads token_file through admin's token rules (errors name status.token_file). Throws
// ConfigError naming the key: an address that is not loopback without a token, a
// status page without `storage:`, an address listed twice.
StatusPageConfig parse_status_page_config(const ConfigNode& section, bool has_storage, bool load_token);

}  // namespace stsd::admin::status
