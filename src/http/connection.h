#pragma once
// One HTTP/1.1 connection over a TCP, unix or TLS stream: reads requests within size
// limits and deadlines, hands each to the service's Handler, writes the reply, keeps
// the connection alive when both sides want it, and closes it cleanly.
//
// Deadlines (Timeouts): the TLS handshake within `handshake`; the first request's header
// within `first_request` of the connection (or of the handshake); on a kept-alive
// connection the next request must start within `idle`; each request, from its first
// byte to the end of its body, within `request` (the first request's body: within
// `request` of its accepted header), so a client that trickles its header (slowloris) is
// cut; each reply written within `write`.
// Admission (ConnectionLimits): a connection stays pending until its first request is
// accepted (framing, rate and the service's header check passed); then it is
// established, or answered 503 with Retry-After when the established pool is full.
// Limits: a header over max_header_bytes gets 431 (RFC 6585 §5), a body over
// max_body_bytes 413; with max_body_bytes 0 no body is read at all (the handler sees
// `unread_body`, and the connection closes after the reply). Framing that RFC 9112 §6
// leaves ambiguous gets 400 and a close (request_framing.h). A request beyond the
// client's rate gets 429 with Retry-After (RFC 6585 §4).
#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include "http/connection_limits.h"
#include "http/listener_set.h"
#include "http/message.h"
#include "throttled_log.h"

namespace stsd::http {

struct Limits {
  size_t max_header_bytes = 8192;
  size_t max_body_bytes = 0;  // 0: bodies are never read
  bool operator==(const Limits&) const = default;
};

struct Timeouts {
  std::chrono::milliseconds handshake{std::chrono::seconds(10)};
  std::chrono::milliseconds first_request{std::chrono::seconds(10)};
  std::chrono::milliseconds idle{std::chrono::seconds(30)};
  std::chrono::milliseconds request{std::chrono::seconds(10)};
  std::chrono::milliseconds write{std::chrono::seconds(10)};
  bool operator==(const Timeouts&) const = default;
};

// What a connection reads on every request (replaced at once by a reload).
struct ConnectionSettings {
  Limits limits;
  Timeouts timeouts;
  std::string server_header = "stsd";  // the Server field of every reply
};

// The service's part of every exchange.
struct Hooks {
  Handler handler;
  HeaderCheck check_header;      // optional
  ErrorReplyFormat error_reply;  // optional: text_error_reply when empty
  ExchangeLog on_exchange;       // optional: e.g. an access log
};

// The certificate for a TLS client's server name (RFC 6066 §3): the context to switch
// the connection to, and what keeps it alive until the switch (OpenSSL then holds its
// own reference). A null context refuses the handshake with unrecognized_name.
struct SelectedCertificate {
  SSL_CTX* context = nullptr;
  std::shared_ptr<const void> keep_alive;
};
using CertificateSelector = std::function<SelectedCertificate(std::string_view server_name)>;

struct TlsSettings {
  // The server's TLS settings (versions, ciphers); it needs no certificate of its own,
  // since the selector picks one per connection.
  std::shared_ptr<boost::asio::ssl::context> context;
  CertificateSelector select;
};

// State every connection of one server shares.
class ConnectionContext {
 public:
  ConnectionContext(std::string name, ConnectionSettings settings, Hooks hooks,
                    std::shared_ptr<ConnectionLimits> limits, TlsSettings tls);
  ~ConnectionContext();

  // Serves an admitted connection on its own strand until it ends.
  static void serve(const std::shared_ptr<ConnectionContext>& context, ListenerSet::Accepted accepted);

  std::shared_ptr<const ConnectionSettings> settings() const { return settings_.load(std::memory_order_acquire); }
  void update(ConnectionSettings settings);

  // Stops taking requests: connections waiting for one close now, the others after
  // their reply.
  void begin_stop();
  size_t open_connections() const;

  // An error the connection decided on its own, in the service's format; it closes.
  Reply error_reply(unsigned status, std::string_view message) const;
  // 503 with Retry-After, for a connection over a cap.
  Reply busy_reply() const;
  // busy_reply() as bytes on the wire, for the listener to send without a connection.
  std::string rendered_busy_reply() const;

  const std::string name;
  const Hooks hooks;
  const std::shared_ptr<ConnectionLimits> limits;
  const TlsSettings tls;
  std::atomic<bool> stopping{false};
  log::ThrottledLog handshake_log;
  log::ThrottledLog timeout_log;
  log::ThrottledLog refused_log;

  // A live connection, closable from begin_stop while it waits for a request.
  struct Handle {
    boost::asio::any_io_executor executor;  // the connection's strand
    std::function<void()> close_if_idle;    // runs there
  };
  std::list<std::shared_ptr<Handle>>::iterator enroll(std::shared_ptr<Handle> handle);
  void leave(std::list<std::shared_ptr<Handle>>::iterator position);

 private:
  std::atomic<std::shared_ptr<const ConnectionSettings>> settings_;
  mutable std::mutex handles_mutex_;
  std::list<std::shared_ptr<Handle>> handles_;
};

}  // namespace stsd::http
