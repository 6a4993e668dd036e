#pragma once
// The `admin:` config section, shared by the server and by `stsctl --config FILE` so
// that both derive the socket path the same way.
//
//   admin:
//     enabled: true                   # false: no admin API at all
//     socket: var/stsd.sock           # relative to the config file's folder
//     listen: "127.0.0.1:8053"        # optional TCP listener (plain HTTP)
//     token_file: admin.token         # required with listen: the bearer token
//
// Without an `admin:` key the API is on whenever `storage:` is configured, on the socket
// `stsd.sock` in the folder that holds the store (storage: var/stsd.db -> var/stsd.sock):
// a store that nothing can write to is never what an operator wants, and that default is
// also where stsctl looks first (var/stsd.sock from the config's folder).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "config.h"
#include "http/listener_set.h"

namespace stsd::admin {

struct AdminConfig {
  bool enabled = false;
  std::filesystem::path socket;  // empty when disabled
  std::optional<boost::asio::ip::tcp::endpoint> listen;
  std::string listen_text;  // as written, for messages
  std::filesystem::path token_file;
  std::string token;  // loaded from token_file

  bool operator==(const AdminConfig&) const = default;
};

// The unix socket path limit (sun_path holds 108 bytes with the terminating NUL); the
// server binds `<socket>.new` first (http::kSocketTempSuffix), so that name must fit too.
inline constexpr size_t kMaxSocketPathBytes = 107;
using http::kSocketTempSuffix;
// Shortest bearer token accepted (a guessable token on a TCP port is an open door).
inline constexpr size_t kMinTokenLength = 16;

// `section` is the `admin:` node or nullptr; `storage` the resolved `storage:` path.
// With `load_token`, reads token_file (errors name admin.token_file). Throws ConfigError.
AdminConfig parse_admin_config(const ConfigNode* section, const std::optional<std::filesystem::path>& storage,
                               bool load_token);

// A token file holds one line; a larger file is refused.
inline constexpr uint64_t kMaxTokenFileBytes = 4096;

// Reads a token file (src/file_input.h: a regular file of at most kMaxTokenFileBytes,
// writable by nobody but its owner, root or the reading user): the first line, without
// surrounding whitespace. Returns an error message (empty when fine) and sets `token`.
std::string read_token_file(const std::filesystem::path& path, std::string& token);

}  // namespace stsd::admin
