#pragma once
// What the HTTP clients share (stsctl's admin client and the confirmer's policy
// fetcher): connection set-up over TCP, a unix socket or TLS (SNI, and the certificate
// verified for the name against a CA file or the system store), one deadline for every
// step, and bounded replies. Each client keeps its own requests and its own reading of
// the answer.
#include <utility>  // Boost 1.74's asio/awaitable.hpp uses std::exchange without including it

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace stsd::http {

// Where a client connects.
struct ClientTarget {
  std::string unix_socket;  // a unix socket path, or TCP:
  std::string host;         // a name or address to resolve
  uint16_t port = 0;
  std::optional<boost::asio::ip::address> pinned_address;  // connect here instead of resolving `host`
  // Non-empty: TLS, with this SNI name (RFC 6066 §3), the certificate verified for it
  // (RFC 6125; no partial wildcards).
  std::string tls_server_name;
};

// A TLS client context: TLS 1.2 or later, peers verified against `ca_file` (PEM) or the
// system trust store. Throws std::runtime_error naming the file.
boost::asio::ssl::context make_client_tls_context(const std::optional<std::filesystem::path>& ca_file);

class ClientConnection {
 public:
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  using ResponseParser = boost::beast::http::response_parser<boost::beast::http::string_body>;
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  // Sees each certificate of the chain (OpenSSL's verify callback); returns whether to go on.
  using VerifyCallback = std::function<bool(bool preverified, boost::asio::ssl::verify_context& context)>;

  // `tls` (which must outlive the connection) is needed only for TLS targets.
  explicit ClientConnection(boost::asio::any_io_executor executor, boost::asio::ssl::context* tls = nullptr,
                            size_t max_header_bytes = 16 * 1024);

  // The deadline of every step that follows (operations fail with beast::error::timeout).
  void expires_at(std::chrono::steady_clock::time_point deadline);
  void expires_after(std::chrono::steady_clock::duration timeout) {
    expires_at(std::chrono::steady_clock::now() + timeout);
  }
  void set_verify_callback(VerifyCallback callback) { verify_ = std::move(callback); }

  enum class Step { Resolve, Connect, Handshake };
  struct ConnectFailure {
    Step step;
    boost::system::error_code error;
  };
  // Connects (and shakes hands for TLS). nullopt on success.
  boost::asio::awaitable<std::optional<ConnectFailure>> connect(const ClientTarget& target);

  boost::asio::awaitable<boost::system::error_code> write(Request& request);
  // The response header; the body limit is left open so that the caller can judge the
  // status before it decides how much body it takes.
  boost::asio::awaitable<boost::system::error_code> read_header(ResponseParser& parser);
  // The rest of the response, at most `max_body_bytes` (http::error::body_limit past it).
  boost::asio::awaitable<boost::system::error_code> read_body(ResponseParser& parser, uint64_t max_body_bytes);

  bool is_open() const;
  // Whether an open connection can carry another request now: nothing of the last answer
  // is left unread, and the peer has neither sent more nor closed (checked without
  // waiting). A kept-alive connection that fails this is closed, not reused.
  bool is_idle();
  void close();

 private:
  using TcpStream = boost::beast::tcp_stream;
  using UnixStream = boost::beast::basic_stream<boost::asio::local::stream_protocol>;
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  template <class Operation>
  auto on_stream(Operation operation);
  template <class Start>
  boost::asio::awaitable<boost::system::error_code> run(Start start);

  boost::asio::any_io_executor executor_;
  boost::asio::ssl::context* tls_;
  size_t max_header_bytes_;
  VerifyCallback verify_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::variant<std::monostate, TcpStream, UnixStream, TlsStream> stream_;
  boost::beast::flat_buffer buffer_;
};

// Runs `operation` on `io` until it completes, for a client without an event loop of
// its own (stsctl). Rethrows what the operation threw.
template <class T>
T run_blocking(boost::asio::io_context& io, boost::asio::awaitable<T> operation) {
  std::optional<T> result;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, std::move(operation), [&](std::exception_ptr error, T value) {
    failure = error;
    if (!error) result.emplace(std::move(value));
  });
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

}  // namespace stsd::http
