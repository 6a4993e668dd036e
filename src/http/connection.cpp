#include <utility>  // Boost 1.74's asio/awaitable.hpp uses std::exchange without including it

#include "http/connection.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "http/refusal.h"
#include "http/request_framing.h"
#include "logging.h"
#include "utc_time.h"

namespace stsd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using local_stream = asio::local::stream_protocol;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunk = 4096;
// A peer that never answers our TLS close_notify is cut after this long.
constexpr auto kShutdownTimeout = std::chrono::seconds(2);

template <class Stream>
constexpr bool kIsTls = false;
template <class Next>
constexpr bool kIsTls<beast::ssl_stream<Next>> = true;

// What the SNI callback saw, for a failed handshake's log line.
struct HandshakeNote {
  const CertificateSelector* select = nullptr;
  bool asked = false;       // the callback ran
  std::string server_name;  // empty: the client sent no SNI
  bool certificate_found = false;
};

// RFC 6066 §3 SNI callback: switch to the certificate the service selects for the name.
// No name or no certificate: a fatal unrecognized_name alert, so the client sees a clean
// handshake failure instead of a certificate for some other name.
int select_certificate(SSL* ssl, int* alert, void*) {
  auto* note = static_cast<HandshakeNote*>(SSL_get_app_data(ssl));
  if (!note || !note->select || !*note->select) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  note->asked = true;
  note->server_name = name ? name : "";
  if (!name) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  const SelectedCertificate selected = (*note->select)(name);
  if (!selected.context) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (!SSL_set_SSL_CTX(ssl, selected.context)) {  // takes its own reference
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  note->certificate_found = true;
  return SSL_TLSEXT_ERR_OK;
}

enum class ReadFailure { Gone, Timeout, HeaderTooLarge, BodyTooLarge, Malformed };

ReadFailure classify(const boost::system::error_code& error) {
  if (error == bhttp::error::header_limit || error == bhttp::error::buffer_overflow) return ReadFailure::HeaderTooLarge;
  if (error == bhttp::error::body_limit) return ReadFailure::BodyTooLarge;
  if (error == beast::error::timeout) return ReadFailure::Timeout;
  static const auto& http_category = bhttp::make_error_code(bhttp::error::bad_method).category();
  if (error.category() == http_category && error != bhttp::error::end_of_stream &&
      error != bhttp::error::partial_message)
    return ReadFailure::Malformed;
  return ReadFailure::Gone;  // end of stream, truncation, reset: the client is gone
}

std::string seconds_text(std::chrono::milliseconds duration) {
  const auto count = duration.count();
  return count % 1000 == 0 ? std::to_string(count / 1000) + "s" : std::to_string(count) + "ms";
}

bool omits_body(unsigned status) { return status == 204 || status == 304 || (status >= 100 && status < 200); }

// `reply` as sent: Server, Date and Connection set, Content-Length from the body, no
// body for HEAD (RFC 9110 §9.3.2, whatever the status), 204 and 304.
bhttp::response<bhttp::string_body> response_of(Reply&& reply, unsigned version, bool head,
                                                std::string_view server_header) {
  bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(reply.status), version};
  response.set(bhttp::field::server, beast::string_view(server_header.data(), server_header.size()));
  // RFC 9110 §6.6.1: an origin server with a clock sends Date.
  response.set(bhttp::field::date, http_date(std::chrono::system_clock::now()));
  for (auto& [name, value] : reply.headers) response.insert(name, value);
  if (!reply.header("Content-Length") && !omits_body(reply.status))
    response.set(bhttp::field::content_length, std::to_string(reply.body.size()));
  if (!head && !omits_body(reply.status)) response.body() = std::move(reply.body);
  response.keep_alive(!reply.close);
  return response;
}

template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  template <class Socket>
  Connection(std::shared_ptr<ConnectionContext> context, Socket socket, ListenerSet::Accepted& accepted)
      : context_(std::move(context)),
        stream_(make_stream(std::move(socket))),
        buffer_(context_->settings()->limits.max_header_bytes + kReadChunk),
        transport_(accepted.transport),
        peer_(accepted.peer),
        ticket_(std::move(accepted.ticket)) {}

  ~Connection() {
    if constexpr (kIsTls<Stream>) SSL_set_app_data(stream_.native_handle(), nullptr);
  }

  static asio::awaitable<void> run(std::shared_ptr<Connection> self) {
    // A pending connection that loses its slot to a newer one (ConnectionLimits) is
    // closed on its own strand.
    self->ticket_.on_evicted([weak = std::weak_ptr<Connection>(self), executor = self->stream_.get_executor()] {
      asio::post(executor, [weak] {
        if (auto connection = weak.lock()) {
          connection->evicted_ = true;
          connection->close_now();
        }
      });
    });
    auto handle = std::make_shared<ConnectionContext::Handle>();
    handle->executor = self->stream_.get_executor();
    handle->close_if_idle = [weak = std::weak_ptr<Connection>(self)] {
      if (auto connection = weak.lock(); connection && !connection->busy_) connection->close_now();
    };
    const auto position = self->context_->enroll(handle);
    struct Leave {
      ConnectionContext& context;
      std::list<std::shared_ptr<ConnectionContext::Handle>>::iterator position;
      ~Leave() { context.leave(position); }
    } leave{*self->context_, position};
    co_await self->serve();
  }

 private:
  auto& lowest() { return beast::get_lowest_layer(stream_); }

  template <class Socket>
  Stream make_stream(Socket socket) {
    if constexpr (kIsTls<Stream>)
      return Stream(std::move(socket), *context_->tls.context);
    else
      return Stream(std::move(socket));
  }

  std::string peer_text() const { return transport_ == Transport::Unix ? "unix" : endpoint_text(peer_); }

  asio::awaitable<void> serve() {
    if constexpr (kIsTls<Stream>) {
      if (!co_await handshake()) co_return close_now();
    }
    bool first = true;
    const auto settings = context_->settings();
    if (!kIsTls<Stream>) expire_after(settings->timeouts.first_request);
    for (;;) {
      if (context_->stopping.load()) co_return co_await close_gracefully();
      if (!co_await wait_for_request(first)) co_return close_now();
      const bool keep_going = co_await exchange(first);
      if (!keep_going) co_return co_await close_gracefully();
      first = false;
    }
  }

  asio::awaitable<bool> handshake() {
    const auto timeout = context_->settings()->timeouts.handshake;
    note_.select = &context_->tls.select;
    SSL_set_app_data(stream_.native_handle(), &note_);
    lowest().expires_after(timeout);
    boost::system::error_code error;
    co_await stream_.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, error));
    if (!error) {
      if (const char* name = SSL_get_servername(stream_.native_handle(), TLSEXT_NAMETYPE_host_name))
        server_name_ = name;
      expire_after(context_->settings()->timeouts.first_request);
      co_return true;
    }
    std::string why;
    if (evicted_) {
      ERR_clear_error();
      co_return false;  // logged by the listener that admitted the newer connection
    } else if (error == beast::error::timeout)
      why = "not completed within " + seconds_text(timeout);
    else if (note_.asked && note_.server_name.empty())
      why = "the client sent no server name (SNI); certificates are only chosen by name";
    else if (note_.asked && !note_.certificate_found)
      why = "no certificate for " + printable(note_.server_name);
    else
      why = error.message();
    ERR_clear_error();
    context_->handshake_log.report(context_->name + ": " + peer_text() + " TLS handshake failed: " + why);
    co_return false;
  }

  // Waits for the first byte of the next request. The first request's deadline runs
  // from the connection (or the handshake); a kept-alive connection waits `idle`.
  asio::awaitable<bool> wait_for_request(bool first) {
    if (buffer_.size() > 0) co_return true;  // a pipelined request is already here
    const auto settings = context_->settings();
    if (!first) expire_after(settings->timeouts.idle);
    boost::system::error_code error;
    const size_t bytes =
        co_await stream_.async_read_some(buffer_.prepare(kReadChunk), asio::redirect_error(asio::use_awaitable, error));
    buffer_.commit(bytes);
    if (error == beast::error::timeout && first) report_timeout();
    co_return !error;
  }

  // The deadline of what is read or written next.
  void expire_after(std::chrono::milliseconds timeout) {
    deadline_ = timeout;
    lowest().expires_after(timeout);
  }

  void report_timeout() {
    context_->timeout_log.report(context_->name + ": " + peer_text() + " closed: request not complete within " +
                                 seconds_text(deadline_));
  }

  // Reads one request and answers it; false when the connection must close.
  asio::awaitable<bool> exchange(bool first) {
    const auto settings = context_->settings();
    const auto started = SteadyClock::now();
    if (!first) expire_after(settings->timeouts.request);
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(settings->limits.max_header_bytes));
    // Without a body limit of its own, Beast checks Content-Length against this one
    // while reading the header, so an oversized upload is refused before it is sent.
    if (settings->limits.max_body_bytes > 0) parser.body_limit(settings->limits.max_body_bytes);
    boost::system::error_code error;
    co_await bhttp::async_read_header(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, error));
    if (error) co_return co_await refuse_unreadable(error, *settings, nullptr, started);

    Request request = request_of(parser.get());
    if (auto refusal = framing_refusal(request.method, request.version, request.headers)) {
      co_await write(error_reply(400, "malformed HTTP request: " + *refusal), &request, *settings, started);
      co_return false;
    }
    if (transport_ != Transport::Unix && !context_->limits->allow_request(peer_.address(), SteadyClock::now())) {
      Reply reply = error_reply(429, "too many requests from this address; retry later");
      reply.headers.emplace_back("Retry-After", "1");
      co_await write(std::move(reply), &request, *settings, started);
      co_return false;
    }
    if (context_->hooks.check_header) {
      if (auto refusal = context_->hooks.check_header(request)) {
        refusal->close = true;
        co_await write(std::move(*refusal), &request, *settings, started);
        co_return false;
      }
    }
    if (first && !co_await establish(request, *settings, started)) co_return false;
    if (!parser.is_done() && settings->limits.max_body_bytes > 0) {
      if (!co_await read_body(parser, request, *settings, started)) co_return false;
      request.body = std::move(parser.get().body());
    } else {
      request.unread_body = !parser.is_done();
    }

    busy_ = true;
    Reply reply = handle(request);
    const bool keep_alive =
        !reply.close && parser.get().keep_alive() && !request.unread_body && !context_->stopping.load();
    reply.close = !keep_alive;
    const bool written = co_await write(std::move(reply), &request, *settings, started);
    busy_ = false;
    co_return written&& keep_alive;
  }

  // The first request was accepted: the connection leaves the pending pool for the
  // established one (503 when that is full), and its body gets a request deadline of
  // its own instead of what is left of the first-request one.
  asio::awaitable<bool> establish(const Request& request, const ConnectionSettings& settings,
                                  SteadyClock::time_point started) {
    if (auto refusal = ticket_.establish()) {
      const auto limits = context_->limits->settings();
      context_->refused_log.report(
          context_->name + ": refused a request from " + peer_text() + ": " +
          (*refusal == ConnectionLimits::Refusal::TooManyFromClient
               ? "max_connections_per_client (" + std::to_string(limits.max_connections_per_client) + ") reached"
               : "max_connections (" + std::to_string(limits.max_connections) + ") reached"));
      co_await write(busy_reply(), &request, settings, started);
      co_return false;
    }
    expire_after(settings.timeouts.request);
    co_return true;
  }

  asio::awaitable<bool> read_body(bhttp::request_parser<bhttp::string_body>& parser, const Request& request,
                                  const ConnectionSettings& settings, SteadyClock::time_point started) {
    boost::system::error_code error;
    if (const auto* expect = request.header("Expect"); expect && beast::iequals(*expect, "100-continue")) {
      bhttp::response<bhttp::empty_body> proceed{bhttp::status::continue_, request.version};
      co_await bhttp::async_write(stream_, proceed, asio::redirect_error(asio::use_awaitable, error));
      if (error) co_return false;
    }
    co_await bhttp::async_read(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, error));
    if (!error) co_return true;
    co_return co_await refuse_unreadable(error, settings, &request, started);
  }

  // A request that could not be read gets an answer when it deserves one; a connection
  // that simply ended or timed out gets none. Always false: the connection closes.
  asio::awaitable<bool> refuse_unreadable(const boost::system::error_code& error, const ConnectionSettings& settings,
                                          const Request* request, SteadyClock::time_point started) {
    const auto& limits = settings.limits;
    switch (classify(error)) {
      case ReadFailure::HeaderTooLarge:
        co_await write(
            error_reply(431, "request headers larger than " + std::to_string(limits.max_header_bytes) + " bytes"),
            request, settings, started);
        break;
      case ReadFailure::BodyTooLarge:
        co_await write(error_reply(413, "request body larger than " + std::to_string(limits.max_body_bytes) + " bytes"),
                       request, settings, started);
        break;
      case ReadFailure::Malformed:
        co_await write(error_reply(400, "malformed HTTP request: " + error.message()), request, settings, started);
        break;
      case ReadFailure::Timeout:
        report_timeout();
        break;
      case ReadFailure::Gone:
        ERR_clear_error();
        break;
    }
    co_return false;
  }

  Request request_of(const bhttp::request_parser<bhttp::string_body>::value_type& header) const {
    Request request;
    request.method = std::string(header.method_string());
    request.target = std::string(header.target());
    request.version = header.version();
    for (const auto& field : header) request.headers.emplace_back(field.name_string(), field.value());
    request.transport = transport_;
    request.peer = peer_;
    request.server_name = server_name_;
    return request;
  }

  Reply handle(const Request& request) {
    try {
      return context_->hooks.handler(request);
    } catch (const std::exception& failure) {
      log::error(context_->name + ": " + request.method + " " + printable(request.target) +
                 " failed: " + failure.what());
    } catch (...) {
      log::error(context_->name + ": " + request.method + " " + printable(request.target) + " failed");
    }
    return error_reply(500, "internal error");
  }

  Reply error_reply(unsigned status, std::string_view message) const { return context_->error_reply(status, message); }
  Reply busy_reply() const { return context_->busy_reply(); }

  // Writes `reply` within the write timeout; true when it was written.
  asio::awaitable<bool> write(Reply reply, const Request* request, const ConnectionSettings& settings,
                              SteadyClock::time_point started) {
    const unsigned status = reply.status;
    std::string log_note = std::move(reply.log_note);
    auto response = response_of(std::move(reply), request ? request->version : 11u,
                                request && request->method == "HEAD", settings.server_header);
    lowest().expires_after(settings.timeouts.write);
    boost::system::error_code error;
    co_await bhttp::async_write(stream_, response, asio::redirect_error(asio::use_awaitable, error));
    if (context_->hooks.on_exchange) {
      Exchange exchange;
      exchange.request = request;
      exchange.status = status;
      exchange.body_bytes = response.body().size();
      exchange.milliseconds = std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count();
      if (error) exchange.write_error = error.message();
      exchange.log_note = std::move(log_note);
      exchange.peer = peer_text();
      context_->hooks.on_exchange(exchange);
    }
    co_return !error;
  }

  // TLS close_notify (bounded), or a half-close that first drops what the client sent
  // unread (so the close is no reset that could destroy the reply, refusal.h); then the
  // socket closes.
  asio::awaitable<void> close_gracefully() {
    boost::system::error_code error;
    if constexpr (kIsTls<Stream>) {
      lowest().expires_after(kShutdownTimeout);
      co_await stream_.async_shutdown(asio::redirect_error(asio::use_awaitable, error));
    } else {
      discard_received(lowest().socket().native_handle());
      lowest().socket().shutdown(asio::socket_base::shutdown_send, error);
    }
    close_now();
  }

  void close_now() {
    boost::system::error_code ignored;
    lowest().socket().shutdown(asio::socket_base::shutdown_both, ignored);
    lowest().close();
    ERR_clear_error();
  }

  std::shared_ptr<ConnectionContext> context_;
  Stream stream_;
  beast::flat_buffer buffer_;
  Transport transport_;
  tcp::endpoint peer_;
  ConnectionLimits::Ticket ticket_;
  HandshakeNote note_;
  std::string server_name_;
  bool busy_ = false;     // between a complete request header and its reply written
  bool evicted_ = false;  // closed to make room for a newer pending connection
  std::chrono::milliseconds deadline_{0};
};

template <class Stream, class Socket>
void spawn(const std::shared_ptr<ConnectionContext>& context, Socket socket, ListenerSet::Accepted& accepted) {
  auto executor = socket.get_executor();
  auto connection = std::make_shared<Connection<Stream>>(context, std::move(socket), accepted);
  asio::co_spawn(executor, Connection<Stream>::run(std::move(connection)), asio::detached);
}

}  // namespace

ConnectionContext::ConnectionContext(std::string service_name, ConnectionSettings settings, Hooks service_hooks,
                                     std::shared_ptr<ConnectionLimits> connection_limits, TlsSettings tls_settings)
    : name(std::move(service_name)),
      hooks(std::move(service_hooks)),
      limits(std::move(connection_limits)),
      tls(std::move(tls_settings)),
      settings_(std::make_shared<const ConnectionSettings>(std::move(settings))) {
  if (tls.context) SSL_CTX_set_tlsext_servername_callback(tls.context->native_handle(), &select_certificate);
}

ConnectionContext::~ConnectionContext() = default;

Reply ConnectionContext::error_reply(unsigned status, std::string_view message) const {
  Reply reply = hooks.error_reply ? hooks.error_reply(status, message) : text_error_reply(status, message);
  reply.close = true;
  return reply;
}

Reply ConnectionContext::busy_reply() const {
  Reply reply = error_reply(503, "too many " + name + " connections; retry later");
  reply.headers.emplace_back("Retry-After", "1");
  return reply;
}

std::string ConnectionContext::rendered_busy_reply() const {
  auto response = response_of(busy_reply(), 11, false, settings()->server_header);
  response.erase(bhttp::field::date);  // said much later than now; optional on a 5xx (RFC 9110 §6.6.1)
  std::ostringstream out;
  out << response;
  return std::move(out).str();
}

void ConnectionContext::update(ConnectionSettings settings) {
  settings_.store(std::make_shared<const ConnectionSettings>(std::move(settings)), std::memory_order_release);
}

void ConnectionContext::serve(const std::shared_ptr<ConnectionContext>& context, ListenerSet::Accepted accepted) {
  try {
    if (auto* socket = std::get_if<tcp::socket>(&accepted.socket)) {
      if (accepted.transport == Transport::Tls) {
        if (!context->tls.context) throw std::logic_error("a TLS listener without TLS settings");
        spawn<beast::ssl_stream<beast::tcp_stream>>(context, std::move(*socket), accepted);
      } else {
        spawn<beast::tcp_stream>(context, std::move(*socket), accepted);
      }
    } else {
      spawn<beast::basic_stream<local_stream>>(context, std::move(std::get<ListenerSet::UnixSocket>(accepted.socket)),
                                               accepted);
    }
  } catch (const std::exception& error) {
    ERR_clear_error();
    context->handshake_log.report(context->name + ": cannot start a connection: " + error.what());
  }
}

void ConnectionContext::begin_stop() {
  stopping.store(true);
  std::lock_guard lock(handles_mutex_);
  for (const auto& handle : handles_) asio::post(handle->executor, handle->close_if_idle);
}

size_t ConnectionContext::open_connections() const {
  std::lock_guard lock(handles_mutex_);
  return handles_.size();
}

std::list<std::shared_ptr<ConnectionContext::Handle>>::iterator ConnectionContext::enroll(
    std::shared_ptr<Handle> handle) {
  std::lock_guard lock(handles_mutex_);
  return handles_.insert(handles_.end(), std::move(handle));
}

void ConnectionContext::leave(std::list<std::shared_ptr<Handle>>::iterator position) {
  std::lock_guard lock(handles_mutex_);
  handles_.erase(position);
}

}  // namespace stsd::http
