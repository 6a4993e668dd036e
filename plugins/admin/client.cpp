#include "client.h"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/field.hpp>

#include "http/client.h"

namespace stsd::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using stsd::http::ClientConnection;

// The server closes connections idle for 60 s; reconnect well before that rather than
// find out by a failed write.
constexpr auto kReuseWindow = std::chrono::seconds(20);
// Answers are JSON documents; the largest (a page of 10000 domains) is far below this.
constexpr uint64_t kMaxReplyBytes = 256 * 1024 * 1024;

std::string connect_hint(const Endpoint& endpoint, const boost::system::error_code& error) {
  namespace errc = boost::system::errc;
  if (!endpoint.socket.empty()) {
    if (error == errc::no_such_file_or_directory || error == asio::error::connection_refused)
      return " (is stsd running? choose the server with --socket PATH or --config FILE)";
    if (error == errc::permission_denied) return " (the socket has mode 0600: run stsctl as the user that runs stsd)";
    return "";
  }
  return " (is admin.listen set in stsd's config?)";
}

}  // namespace

struct AdminClient::Impl {
  asio::io_context io;
  ClientConnection connection{io.get_executor()};
  std::chrono::steady_clock::time_point last_used{};
  std::chrono::seconds timeout;

  void connect(const Endpoint& endpoint) {
    stsd::http::ClientTarget target;
    target.unix_socket = endpoint.socket;
    target.host = endpoint.host;
    target.port = endpoint.port;
    connection.expires_after(timeout);
    auto failed = stsd::http::run_blocking(io, connection.connect(target));
    if (!failed) return;
    connection.close();
    if (failed->step == ClientConnection::Step::Resolve)
      throw ConnectionError("cannot resolve " + endpoint.host + ": " + failed->error.message());
    throw ConnectionError("cannot connect to stsd at " + endpoint.description + ": " + failed->error.message() +
                          connect_hint(endpoint, failed->error));
  }

  HttpResult exchange(ClientConnection::Request& request, const Endpoint& endpoint) {
    connection.expires_after(timeout);
    auto error = stsd::http::run_blocking(io, connection.write(request));
    if (error) throw ConnectionError("sending to stsd at " + endpoint.description + " failed: " + error.message());
    ClientConnection::ResponseParser parser;
    connection.expires_after(timeout);
    error = stsd::http::run_blocking(io, connection.read_header(parser));
    if (!error) error = stsd::http::run_blocking(io, connection.read_body(parser, kMaxReplyBytes));
    if (error == beast::error::timeout) {
      throw ConnectionError("stsd at " + endpoint.description + " did not answer within " +
                            std::to_string(timeout.count()) + " s");
    }
    if (error)
      throw ConnectionError("reading stsd's answer from " + endpoint.description + " failed: " + error.message());
    auto response = parser.release();
    HttpResult result;
    result.status = response.result_int();
    result.raw = std::move(response.body());
    result.body = nlohmann::json::parse(result.raw, nullptr, false);
    if (result.body.is_discarded()) result.body = nullptr;
    if (!response.keep_alive()) connection.close();
    return result;
  }
};

AdminClient::AdminClient(Endpoint endpoint, std::chrono::seconds timeout)
    : endpoint_(std::move(endpoint)), impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
}

AdminClient::~AdminClient() = default;

HttpResult AdminClient::request(const std::string& method, const std::string& target,
                                const std::optional<nlohmann::json>& body) {
  if (!body) return send(method, target, std::nullopt);
  return send(method, target, Body{body->dump(), "application/json"});
}

HttpResult AdminClient::request(const std::string& method, const std::string& target, std::string body,
                                const std::string& media_type) {
  return send(method, target, Body{std::move(body), media_type});
}

HttpResult AdminClient::send(const std::string& method, const std::string& target, std::optional<Body> body) {
  auto now = std::chrono::steady_clock::now();
  if (impl_->connection.is_open() && now - impl_->last_used > kReuseWindow) impl_->connection.close();
  if (!impl_->connection.is_open()) impl_->connect(endpoint_);

  ClientConnection::Request request{bhttp::string_to_verb(method), target, 11};
  request.set(bhttp::field::host, endpoint_.socket.empty() ? endpoint_.host : "localhost");
  request.set(bhttp::field::user_agent, "stsctl");
  request.set(bhttp::field::accept, "application/json");
  if (!endpoint_.token.empty()) request.set(bhttp::field::authorization, "Bearer " + endpoint_.token);
  if (body) {
    request.set(bhttp::field::content_type, body->media_type);
    request.body() = std::move(body->bytes);
  }
  request.keep_alive(true);
  request.prepare_payload();

  try {
    HttpResult result = impl_->exchange(request, endpoint_);
    impl_->last_used = std::chrono::steady_clock::now();
    return result;
  } catch (const ConnectionError&) {
    impl_->connection.close();  // half-used: the next request starts on a fresh connection
    throw;
  }
}

}  // namespace stsd::admin
