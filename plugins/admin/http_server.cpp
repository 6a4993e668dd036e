#include "http_server.h"

#include "logging.h"
#include "token_compare.h"

namespace stsd::admin {
namespace {

http::Reply json_reply(unsigned status, const nlohmann::json& body) {
  http::Reply reply;
  reply.status = status;
  reply.headers = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
  // Replace invalid UTF-8 echoed from a request instead of failing to serialize.
  reply.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return reply;
}

http::Reply json_error(unsigned status, std::string message) {
  if (status == 413) message += "; send smaller batches";
  nlohmann::json body = nlohmann::json::object();
  body["error"] = std::move(message);
  auto reply = json_reply(status, body);
  reply.close = true;
  return reply;
}

std::vector<http::ListenAddress> addresses_of(const AdminConfig& config) {
  std::vector<http::ListenAddress> addresses;
  if (!config.socket.empty()) addresses.push_back(http::ListenAddress::unix_socket(config.socket, 0600));
  if (config.listen) addresses.push_back(http::ListenAddress::tcp(*config.listen));
  return addresses;
}

// Writes are logged, and every refusal; reads that succeed are not.
void log_exchange(const http::Exchange& exchange) {
  if (!exchange.request) return;
  const auto& request = *exchange.request;
  if (request.method == "GET" && exchange.status < 400) return;
  log::f(exchange.status >= 500 ? log::Level::Error : log::Level::Info, "admin: %s %s -> %u",
         http::printable(request.method, 16).c_str(), http::printable(request.target).c_str(), exchange.status);
}

http::Reply handle(const AdminHttpServer::Handler& handler, const AdminHttpServer::MediaFilter& also_takes,
                   const http::Request& request) {
  const std::string* content_type = request.header("Content-Type");
  std::string_view media = content_type ? std::string_view(*content_type) : std::string_view();
  media = media.substr(0, media.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  std::string media_type;
  for (std::string_view known : {kJsonMediaType, kCsvMediaType}) {
    if (media.size() == known.size() && starts_with_without_case(media, known)) media_type = known;
  }
  if (media_type.empty() && also_takes) {
    std::string lower(media);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (also_takes(lower)) media_type = std::move(lower);
  }
  if (request.body.empty() && media_type.empty()) media_type = kJsonMediaType;  // no body: nothing to read
  if (media_type.empty()) {
    return json_reply(415, nlohmann::json{{"error", "send the body as Content-Type: application/json (or text/csv "
                                                    "to POST /v1/import)"}});
  }
  ApiResponse result = handler(ApiRequest{request.method, request.target, request.body, std::move(media_type)});
  http::Reply reply = json_reply(result.status, result.body);
  for (auto& field : result.headers) reply.headers.push_back(std::move(field));
  return reply;
}

}  // namespace

AdminHttpServer::AdminHttpServer(Handler handler, HttpLimits limits, MediaFilter also_takes) {
  http::ServerSettings settings;
  settings.name = "admin";
  settings.threads = 1;  // one request at a time: the store's writes stay serialized
  settings.connection.server_header = "stsd-admin";
  settings.connection.limits = {.max_header_bytes = limits.max_header_bytes, .max_body_bytes = limits.max_body_bytes};
  settings.connection.timeouts = {.handshake = limits.header_timeout,
                                  .first_request = limits.header_timeout,
                                  .idle = limits.idle_timeout,
                                  .request = limits.idle_timeout,
                                  .write = limits.idle_timeout};
  settings.limits.max_connections = limits.max_connections;
  settings.limits.max_pending = limits.max_unauthenticated;
  settings.stop_grace = limits.stop_grace;
  http::Hooks hooks;
  hooks.handler = [handler = std::move(handler), also_takes = std::move(also_takes)](const http::Request& request) {
    return handle(handler, also_takes, request);
  };
  hooks.check_header = [this](const http::Request& request) { return check_token(request); };
  hooks.error_reply = [](unsigned status, std::string_view message) {
    return json_error(status, std::string(message));
  };
  hooks.on_exchange = log_exchange;
  server_ = std::make_unique<http::Server>(std::move(settings), std::move(hooks));
}

AdminHttpServer::~AdminHttpServer() { stop(); }

// RFC 6750 §2.1. The unix socket is protected by its file mode instead; the body of a
// request without the token is never read.
std::optional<http::Reply> AdminHttpServer::check_token(const http::Request& request) const {
  if (request.over_unix_socket()) return std::nullopt;
  constexpr std::string_view scheme = "Bearer ";
  const std::string* authorization = request.header("Authorization");
  bool ok = false;
  if (authorization && authorization->size() > scheme.size() && starts_with_without_case(*authorization, scheme)) {
    std::lock_guard lock(token_mutex_);
    ok = constant_time_equal(std::string_view(*authorization).substr(scheme.size()), token_);
  }
  if (ok) return std::nullopt;
  auto reply = json_error(401, "missing or wrong bearer token (send Authorization: Bearer <token>)");
  reply.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"stsd-admin\"");
  return reply;
}

AdminHttpServer::Prepared AdminHttpServer::prepare(const AdminConfig& config) {
  return server_->prepare(addresses_of(config));
}

void AdminHttpServer::commit(const AdminConfig& config, Prepared prepared) {
  {
    std::lock_guard lock(token_mutex_);
    token_ = config.token;
  }
  const bool tcp_was_listening = tcp_port() != 0;
  server_->listen(std::move(prepared));
  if (config.listen && !tcp_was_listening && !config.listen->address().is_loopback()) {
    log::f(log::Level::Warning,
           "admin: listening on %s, which is not a loopback address; the admin API speaks plain HTTP, "
           "so the bearer token crosses the network unencrypted",
           config.listen_text.c_str());
  }
}

void AdminHttpServer::stop() { server_->stop(); }

uint16_t AdminHttpServer::tcp_port() const {
  const auto endpoints = server_->tcp_endpoints();
  return endpoints.empty() ? 0 : endpoints.front().port();
}

}  // namespace stsd::admin
