#pragma once
// What an HTTP handler sees and returns: a request in, a reply out, no sockets. The
// connection handler (connection.h) reads the request, enforces limits and timeouts,
// and writes the reply; a handler only decides what to answer.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace stsd::http {

// How a connection reached the server.
enum class Transport { Tcp, Tls, Unix };

using Headers = std::vector<std::pair<std::string, std::string>>;

// The first value of the field `name` (compared without case), or nullptr.
const std::string* find_header(const Headers& headers, std::string_view name);
// How many fields are named `name` (e.g. a repeated Host, RFC 9112 §3.2).
size_t count_headers(const Headers& headers, std::string_view name);

struct Request {
  std::string method;     // "GET"
  std::string target;     // "/path?query", as sent
  unsigned version = 11;  // 10 = HTTP/1.0, 11 = HTTP/1.1
  Headers headers;
  std::string body;  // empty when none, or when the server reads no bodies
  // True when the request announced a body the server did not read (servers whose
  // max_body_bytes is 0 never read one); the connection closes after the reply.
  bool unread_body = false;

  Transport transport = Transport::Tcp;
  boost::asio::ip::tcp::endpoint peer;  // unset (0.0.0.0:0) over a unix socket
  std::string server_name;              // the TLS SNI name; empty when none

  const std::string* header(std::string_view name) const { return find_header(headers, name); }
  bool over_unix_socket() const { return transport == Transport::Unix; }
  bool over_tls() const { return transport == Transport::Tls; }
};

struct Reply {
  unsigned status = 200;
  // Every field to send but Connection, Server and Date, which the connection sets.
  // Content-Length is set from the body unless given here (a HEAD reply gives the
  // length a GET would get, RFC 9110 §9.3.2, and may leave the body empty).
  Headers headers;
  std::string body;      // not sent for HEAD, 204 and 304
  bool close = false;    // close the connection after this reply
  std::string log_note;  // for the exchange log only, never sent

  const std::string* header(std::string_view name) const { return find_header(headers, name); }
};

// Decides the reply to a complete request. Runs on one of the server's threads; an
// exception that escapes becomes a 500 and closes the connection.
using Handler = std::function<Reply(const Request&)>;

// Called with the request's header only (the body is not read yet). A reply refuses the
// request (e.g. 401 before an upload is read) and closes the connection; nullopt lets it
// go on.
using HeaderCheck = std::function<std::optional<Reply>(const Request&)>;

// Renders an error the connection decided on its own (400 malformed, 413, 431, 429,
// 500), in the service's format (JSON for the admin API, text elsewhere).
using ErrorReplyFormat = std::function<Reply(unsigned status, std::string_view message)>;

// A plain-text error reply: the message and a newline, not cacheable.
Reply text_error_reply(unsigned status, std::string_view message);

// One finished exchange, for an access log.
struct Exchange {
  const Request* request = nullptr;  // nullptr when the request could not be read
  unsigned status = 0;
  size_t body_bytes = 0;    // body bytes sent (0 for HEAD)
  double milliseconds = 0;  // first byte of the request to the reply written
  std::string write_error;  // empty when the reply was written
  std::string log_note;     // the reply's log_note
  std::string peer;         // "192.0.2.7:51234", "[2001:db8::7]:443", "unix"
};
using ExchangeLog = std::function<void(const Exchange&)>;

// "192.0.2.7:53", "[2001:db8::1]:443"
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

// Untrusted text (Host, path) made fit for a log line: printable ASCII only, bounded,
// "-" when empty.
std::string printable(std::string_view text, size_t limit = 200);

}  // namespace stsd::http
