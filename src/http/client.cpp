#include "http/client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>

#include <limits>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace stsd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;

asio::ssl::context make_client_tls_context(const std::optional<std::filesystem::path>& ca_file) {
  asio::ssl::context tls(asio::ssl::context::tls_client);
  // TLS 1.2+: what senders negotiate today; older versions only widen the attack surface.
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  error_code error;
  if (ca_file) {
    tls.load_verify_file(ca_file->string(), error);
    if (error) throw std::runtime_error("cannot load CA bundle " + ca_file->string() + ": " + error.message());
  } else {
    tls.set_default_verify_paths(error);
    if (error) throw std::runtime_error("cannot load the system trust store: " + error.message());
  }
  tls.set_verify_mode(asio::ssl::verify_peer);
  return tls;
}

ClientConnection::ClientConnection(asio::any_io_executor executor, asio::ssl::context* tls, size_t max_header_bytes)
    : executor_(std::move(executor)), tls_(tls), max_header_bytes_(max_header_bytes) {}

// Calls `operation` with the open stream, whichever kind it is; an unconnected
// connection counts as an empty variant and is skipped.
template <class Operation>
auto ClientConnection::on_stream(Operation operation) {
  using Result = decltype(operation(std::declval<TcpStream&>()));
  return std::visit(
      [&](auto& stream) -> std::optional<Result> {
        if constexpr (std::is_same_v<std::decay_t<decltype(stream)>, std::monostate>)
          return std::nullopt;
        else
          return operation(stream);
      },
      stream_);
}

void ClientConnection::expires_at(std::chrono::steady_clock::time_point deadline) {
  deadline_ = deadline;
  on_stream([&](auto& stream) {
    beast::get_lowest_layer(stream).expires_at(deadline);
    return 0;
  });
}

asio::awaitable<std::optional<ClientConnection::ConnectFailure>> ClientConnection::connect(const ClientTarget& target) {
  close();
  error_code error;
  if (!target.unix_socket.empty()) {
    auto& stream = stream_.emplace<UnixStream>(executor_);
    if (deadline_) stream.expires_at(*deadline_);
    co_await stream.async_connect(asio::local::stream_protocol::endpoint(target.unix_socket),
                                  redirect_error(use_awaitable, error));
    if (error) co_return ConnectFailure{Step::Connect, error};
    co_return std::nullopt;
  }

  std::vector<asio::ip::tcp::endpoint> endpoints;
  if (target.pinned_address) {
    endpoints.emplace_back(*target.pinned_address, target.port);
  } else {
    asio::ip::tcp::resolver resolver(executor_);
    auto results =
        co_await resolver.async_resolve(target.host, std::to_string(target.port), redirect_error(use_awaitable, error));
    if (error) co_return ConnectFailure{Step::Resolve, error};
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }

  const bool tls = !target.tls_server_name.empty();
  if (tls && !tls_) throw std::logic_error("a TLS target needs a TLS context");
  TcpStream* tcp = tls ? &beast::get_lowest_layer(stream_.emplace<TlsStream>(executor_, *tls_))
                       : &stream_.emplace<TcpStream>(executor_);
  if (deadline_) tcp->expires_at(*deadline_);
  co_await tcp->async_connect(endpoints, redirect_error(use_awaitable, error));
  if (error) co_return ConnectFailure{Step::Connect, error};
  if (!tls) co_return std::nullopt;

  auto& stream = std::get<TlsStream>(stream_);
  SSL* ssl = stream.native_handle();
  const std::string& name = target.tls_server_name;
  if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1 ||
      X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), name.c_str(), name.size()) != 1)
    co_return ConnectFailure{Step::Handshake, asio::error::invalid_argument};
  X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  stream.set_verify_mode(asio::ssl::verify_peer);
  if (verify_) stream.set_verify_callback(verify_);
  co_await stream.async_handshake(asio::ssl::stream_base::client, redirect_error(use_awaitable, error));
  if (error) co_return ConnectFailure{Step::Handshake, error};
  co_return std::nullopt;
}

// Runs one Beast operation, `start(stream, token)`, on the open stream, whichever kind
// it is; its error is the result.
template <class Start>
asio::awaitable<error_code> ClientConnection::run(Start start) {
  error_code error = asio::error::not_connected;
  if (auto* tcp = std::get_if<TcpStream>(&stream_))
    co_await start(*tcp, redirect_error(use_awaitable, error));
  else if (auto* unix_stream = std::get_if<UnixStream>(&stream_))
    co_await start(*unix_stream, redirect_error(use_awaitable, error));
  else if (auto* tls = std::get_if<TlsStream>(&stream_))
    co_await start(*tls, redirect_error(use_awaitable, error));
  co_return error;
}

asio::awaitable<error_code> ClientConnection::write(Request& request) {
  co_return co_await run([&](auto& stream, auto token) { return bhttp::async_write(stream, request, token); });
}

asio::awaitable<error_code> ClientConnection::read_header(ResponseParser& parser) {
  parser.header_limit(static_cast<std::uint32_t>(max_header_bytes_));
  // Not boost::none: Beast 1.74 compares the Content-Length with the optional, and any
  // value exceeds "none".
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  co_return co_await run(
      [&](auto& stream, auto token) { return bhttp::async_read_header(stream, buffer_, parser, token); });
}

asio::awaitable<error_code> ClientConnection::read_body(ResponseParser& parser, uint64_t max_body_bytes) {
  parser.body_limit(max_body_bytes);
  auto error =
      co_await run([&](auto& stream, auto token) { return bhttp::async_read(stream, buffer_, parser, token); });
  // A TLS peer that closes without close_notify after a complete message lost nothing.
  if (error == asio::ssl::error::stream_truncated && parser.is_done()) error = {};
  co_return error;
}

bool ClientConnection::is_open() const { return stream_.index() != 0; }

bool ClientConnection::is_idle() {
  if (!is_open() || buffer_.size() != 0) return false;
  if (auto* tls = std::get_if<TlsStream>(&stream_); tls && SSL_pending(tls->native_handle()) > 0) return false;
  auto socket = on_stream([](auto& stream) { return beast::get_lowest_layer(stream).socket().native_handle(); });
  // A byte waiting is a TLS alert (close_notify) or stray data; 0 is the peer's FIN.
  char byte;
  const ssize_t peeked = ::recv(*socket, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void ClientConnection::close() {
  on_stream([](auto& stream) {
    error_code ignored;
    auto& socket = beast::get_lowest_layer(stream).socket();
    socket.shutdown(asio::socket_base::shutdown_both, ignored);
    socket.close(ignored);
    return 0;
  });
  stream_.emplace<std::monostate>();
  buffer_.clear();
}

}  // namespace stsd::http
