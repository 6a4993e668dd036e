#pragma once
// The HTTP/1.1 transport of the admin API (Boost.Beast): a unix socket created with file
// mode 0600, and an optional TCP listener that requires `Authorization: Bearer <token>`.
// Everything runs on one thread of its own, never on a DNS worker; requests are handled
// one at a time, so the API's writes to the store are serialized.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "admin_config.h"
#include "api.h"

namespace stsd::mtasts {

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 8 * 1024 * 1024;     // an import batch of 5000 rows fits easily
  size_t max_connections = 64;
  std::chrono::seconds idle_timeout{60};       // a connection with no complete request
  std::chrono::seconds stop_grace{3};          // in-flight requests at shutdown
};

class AdminHttpServer {
 public:
  using Handler = std::function<ApiResponse(const ApiRequest&)>;

  AdminHttpServer(AdminConfig config, Handler handler, HttpLimits limits = {});
  ~AdminHttpServer();
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // Binds the socket(s) and starts the thread. Throws std::runtime_error saying what
  // could not be bound and why (e.g. another stsd serves the socket).
  void start();
  // Stops accepting, lets in-flight requests finish (bounded by stop_grace), removes the
  // socket file if it is still ours, joins the thread. Idempotent.
  void stop();
  // Applies a new config (SIGHUP): new listeners are bound before old ones close, so a
  // failure (thrown as std::runtime_error) leaves the old ones serving.
  void reconfigure(AdminConfig config);

  // The bound TCP port (useful with port 0 in tests); 0 without a TCP listener.
  uint16_t tcp_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stsd::mtasts
