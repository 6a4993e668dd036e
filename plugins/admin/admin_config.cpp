#include "admin_config.h"

#include "file_input.h"
#include "net/address.h"

namespace stsd::admin {
namespace {

std::filesystem::path default_socket(const std::filesystem::path& storage) {
  std::filesystem::path store = storage.lexically_normal();
  if (store.filename().empty()) store = store.parent_path();  // "var/stsd.db/"
  return store.parent_path() / "stsd.sock";
}

void check_socket_path(const std::filesystem::path& socket, const ConfigNode* node, const ConfigNode* parent) {
  size_t bytes = socket.native().size() + kSocketTempSuffix.size();
  if (bytes > kMaxSocketPathBytes) {
    std::string message = "the admin socket path '" + socket.native() + "' is too long for a unix socket (" +
                          std::to_string(socket.native().size()) + " bytes; at most " +
                          std::to_string(kMaxSocketPathBytes - kSocketTempSuffix.size()) + "); use a shorter path";
    if (node) node->fail(message);
    if (parent) parent->fail(message);
    throw ConfigError(message);
  }
}

}  // namespace

std::string read_token_file(const std::filesystem::path& path, std::string& token) {
  // A token anyone else may rewrite lets them in (ssh refuses such authorized_keys too).
  InputFileRules rules;
  rules.secret = true;
  rules.max_bytes = kMaxTokenFileBytes;
  InputFile file;
  try {
    file = read_input_file(path, rules);
  } catch (const InputFileError& error) {
    return std::string("token file ") + error.what();
  }
  const std::string line = file.content.substr(0, file.content.find('\n'));
  size_t begin = line.find_first_not_of(" \t\r");
  size_t end = line.find_last_not_of(" \t\r");
  token = begin == std::string::npos ? std::string() : line.substr(begin, end - begin + 1);
  if (token.size() < kMinTokenLength) {
    return "the token in '" + path.native() + "' is " + std::to_string(token.size()) +
           " characters long; use at least " + std::to_string(kMinTokenLength) + " (e.g. `openssl rand -hex 32 > " +
           path.filename().native() + "`)";
  }
  for (char c : token) {
    // RFC 6750 §2.1 b64token characters, so the token fits an Authorization header.
    bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' ||
                   c == '+' || c == '/' || c == '=';
    if (!allowed) {
      return "the token in '" + path.native() +
             "' has a character that cannot appear in a bearer token (use letters, digits, - . _ ~ + / =)";
    }
  }
  return {};
}

AdminConfig parse_admin_config(const ConfigNode* section, const std::optional<std::filesystem::path>& storage,
                               bool load_token) {
  AdminConfig config;
  if (section == nullptr || section->is_null()) {
    if (!storage) return config;  // no store: nothing to administer
    config.enabled = true;
    config.socket = default_socket(*storage);
    check_socket_path(config.socket, nullptr, nullptr);
    return config;
  }
  section->expect_map({"enabled", "socket", "listen", "token_file"});
  config.enabled = section->bool_or("enabled", true);
  if (!config.enabled) return AdminConfig{};
  if (!storage) section->fail("the admin API manages the policy store; set `storage:` too");

  if (auto socket = section->get("socket")) {
    config.socket = socket->as_path();
    if (config.socket.empty() || config.socket.filename().empty()) socket->fail("expected a file path for the socket");
    check_socket_path(config.socket, &*socket, section);
  } else {
    config.socket = default_socket(*storage);
    check_socket_path(config.socket, nullptr, section);
  }

  if (auto listen = section->get("listen")) {
    config.listen_text = listen->as_string();
    const auto endpoint = stsd::net::parse_address_port(config.listen_text);
    if (!endpoint) listen->fail(endpoint.error());
    config.listen = boost::asio::ip::tcp::endpoint(endpoint->address, endpoint->port);
    auto token_file = section->get("token_file");
    if (!token_file) {
      listen->fail("a TCP admin listener needs `token_file:` (clients send `Authorization: Bearer <token>`)");
    }
    config.token_file = token_file->as_path();
    if (load_token) {
      std::string error = read_token_file(config.token_file, config.token);
      if (!error.empty()) token_file->fail(error);
    }
  } else if (auto token_file = section->get("token_file")) {
    token_file->fail("token_file is only used with `listen:` (the unix socket is protected by its file mode)");
  }
  return config;
}

}  // namespace stsd::admin
