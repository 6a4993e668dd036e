#include "client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace stsctl {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local_stream = asio::local::stream_protocol;

// The server closes connections idle for 60 s; reconnect well before that rather than
// find out by a failed write.
constexpr auto kReuseWindow = std::chrono::seconds(20);

}  // namespace

struct AdminClient::Impl {
  asio::io_context io;
  std::optional<beast::basic_stream<local_stream>> unix_stream;
  std::optional<beast::tcp_stream> tcp_stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point last_used{};
  std::chrono::seconds timeout;

  // Runs the io_context until the started operation completes.
  void run() {
    io.restart();
    io.run();
  }

  template <class Stream>
  HttpResult exchange(Stream& stream, http::request<http::string_body>& request, const Endpoint& endpoint) {
    boost::system::error_code error;
    stream.expires_after(timeout);
    http::async_write(stream, request, [&](boost::system::error_code e, size_t) { error = e; });
    run();
    if (error) throw ConnectionError("sending to stsd at " + endpoint.description + " failed: " + error.message());
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    stream.expires_after(timeout);
    http::async_read(stream, buffer, parser, [&](boost::system::error_code e, size_t) { error = e; });
    run();
    if (error == beast::error::timeout) {
      throw ConnectionError("stsd at " + endpoint.description + " did not answer within " +
                            std::to_string(timeout.count()) + " s");
    }
    if (error) throw ConnectionError("reading stsd's answer from " + endpoint.description + " failed: " + error.message());
    auto response = parser.release();
    HttpResult result;
    result.status = response.result_int();
    result.raw = std::move(response.body());
    result.body = nlohmann::json::parse(result.raw, nullptr, false);
    if (result.body.is_discarded()) result.body = nullptr;
    if (!response.keep_alive()) close();
    return result;
  }

  void close() {
    boost::system::error_code ignored;
    if (unix_stream) unix_stream->socket().close(ignored);
    if (tcp_stream) tcp_stream->socket().close(ignored);
    unix_stream.reset();
    tcp_stream.reset();
    buffer.clear();
  }

  void connect(const Endpoint& endpoint) {
    boost::system::error_code error;
    if (!endpoint.socket.empty()) {
      unix_stream.emplace(io);
      unix_stream->expires_after(timeout);
      unix_stream->async_connect(local_stream::endpoint(endpoint.socket), [&](boost::system::error_code e) { error = e; });
      run();
      if (error) {
        namespace errc = boost::system::errc;
        std::string hint = error == errc::no_such_file_or_directory || error == asio::error::connection_refused
                               ? " (is stsd running? choose the server with --socket PATH or --config FILE)"
                           : error == errc::permission_denied
                               ? " (the socket has mode 0600: run stsctl as the user that runs stsd)"
                               : "";
        close();
        throw ConnectionError("cannot connect to stsd at " + endpoint.description + ": " + error.message() + hint);
      }
      return;
    }
    asio::ip::tcp::resolver resolver(io);
    auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port), error);
    if (error) throw ConnectionError("cannot resolve " + endpoint.host + ": " + error.message());
    tcp_stream.emplace(io);
    tcp_stream->expires_after(timeout);
    tcp_stream->async_connect(addresses, [&](boost::system::error_code e, const auto&) { error = e; });
    run();
    if (error) {
      close();
      throw ConnectionError("cannot connect to stsd at " + endpoint.description + ": " + error.message() +
                            " (is admin.listen set in stsd's config?)");
    }
  }
};

AdminClient::AdminClient(Endpoint endpoint, std::chrono::seconds timeout)
    : endpoint_(std::move(endpoint)), impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
}

AdminClient::~AdminClient() = default;

HttpResult AdminClient::request(const std::string& method, const std::string& target,
                                const std::optional<nlohmann::json>& body) {
  auto now = std::chrono::steady_clock::now();
  if ((impl_->unix_stream || impl_->tcp_stream) && now - impl_->last_used > kReuseWindow) impl_->close();
  if (!impl_->unix_stream && !impl_->tcp_stream) impl_->connect(endpoint_);

  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, endpoint_.socket.empty() ? endpoint_.host : "localhost");
  request.set(http::field::user_agent, "stsctl");
  request.set(http::field::accept, "application/json");
  if (!endpoint_.token.empty()) request.set(http::field::authorization, "Bearer " + endpoint_.token);
  if (body) {
    request.set(http::field::content_type, "application/json");
    request.body() = body->dump();
  }
  request.keep_alive(true);
  request.prepare_payload();

  try {
    HttpResult result = impl_->unix_stream ? impl_->exchange(*impl_->unix_stream, request, endpoint_)
                                           : impl_->exchange(*impl_->tcp_stream, request, endpoint_);
    impl_->last_used = std::chrono::steady_clock::now();
    return result;
  } catch (const ConnectionError&) {
    impl_->close();   // half-used: the next request starts on a fresh connection
    throw;
  }
}

}  // namespace stsctl
