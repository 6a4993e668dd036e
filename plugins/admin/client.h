#pragma once
// The admin API's client (what stsctl links): HTTP/1.1: a unix socket or TCP with a bearer token,
// one kept-alive connection, a timeout on every request.
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace stsd::admin {

// The server could not be reached or broke the protocol (exit code 1).
class ConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Endpoint {
  std::string socket;  // a unix socket path, or
  std::string host;    // a TCP host and port
  uint16_t port = 0;
  std::string token;        // bearer token (TCP)
  std::string description;  // for messages: "socket var/stsd.sock (from --config stsd.yaml)"
};

struct HttpResult {
  unsigned status = 0;
  nlohmann::json body;  // null when the answer was not JSON
  std::string raw;
};

class AdminClient {
 public:
  explicit AdminClient(Endpoint endpoint, std::chrono::seconds timeout = std::chrono::seconds(300));
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // Sends one request (reconnecting if the server closed the kept-alive connection).
  // Throws ConnectionError.
  HttpResult request(const std::string& method, const std::string& target,
                     const std::optional<nlohmann::json>& body = std::nullopt);
  // The same with a body of another media type ("text/csv" to POST /v1/import).
  HttpResult request(const std::string& method, const std::string& target, std::string body,
                     const std::string& media_type);

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  struct Impl;
  struct Body {
    std::string bytes;
    std::string media_type;
  };
  HttpResult send(const std::string& method, const std::string& target, std::optional<Body> body);

  Endpoint endpoint_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stsd::admin
