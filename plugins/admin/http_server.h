#pragma once
// The HTTP/1.1 transport of the admin API, on an http::Server (src/http/): a unix socket
// created with file mode 0600, and an optional TCP listener that requires
// `Authorization: Bearer <token>`. Everything runs on one thread of its own, never on a
// DNS worker; requests are handled one at a time, so the API's writes to the store are
// serialized.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "admin_config.h"
#include "api.h"
#include "csv/import_csv.h"
#include "http/server.h"

namespace stsd::admin {

// The unix socket's connections are established at once (its file mode authenticates
// them); a TCP connection is pending until a request with the bearer token arrives, so
// clients without the token can take neither the authenticated slots nor the socket's.
struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = csv::kMaxImportRequestBytes;  // the largest import request
  size_t max_connections = 64;                  // on the unix socket, and apart authenticated on TCP
  size_t max_unauthenticated = 16;              // TCP connections before their token (the oldest make room)
  std::chrono::seconds header_timeout{5};       // the first request's header, from the connection
  std::chrono::seconds idle_timeout{60};        // between requests, and each request and reply
  std::chrono::seconds stop_grace{3};           // in-flight requests at shutdown
};

class AdminHttpServer {
 public:
  using Handler = std::function<ApiResponse(const ApiRequest&)>;
  // Body media types besides JSON and CSV that reach the handler (lower case, without
  // parameters): those the routes of other services take. Others get 415.
  using MediaFilter = std::function<bool(std::string_view media_type)>;
  using Prepared = http::Server::Prepared;

  AdminHttpServer(Handler handler, HttpLimits limits = {}, MediaFilter also_takes = {});
  ~AdminHttpServer();
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // Binds the socket(s) `config` names that are not bound yet (http::BindError naming
  // the address and why, e.g. another stsd serves the socket); nothing changes yet.
  Prepared prepare(const AdminConfig& config);
  // Serves `prepared` with `config`'s token (starting the thread the first time) and
  // closes what `config` no longer names.
  void commit(const AdminConfig& config, Prepared prepared);
  void start(const AdminConfig& config) { commit(config, prepare(config)); }
  // Stops accepting, lets in-flight requests finish (bounded by stop_grace), removes the
  // socket file if it is still ours, joins the thread. Idempotent.
  void stop();

  // The bound TCP port (useful with port 0 in tests); 0 without a TCP listener.
  uint16_t tcp_port() const;

 private:
  std::optional<http::Reply> check_token(const http::Request& request) const;

  mutable std::mutex token_mutex_;
  std::string token_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace stsd::admin
