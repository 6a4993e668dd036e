#include "server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <ctime>
#include <optional>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "logging.h"
#include "utc_time.h"

namespace stsd::policyhost {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

// What the SNI callback saw, for a handshake failure's log line.
struct HandshakeNote {
  bool asked = false;              // the callback ran
  std::string server_name;         // empty: the client sent no SNI
  bool certificate_found = false;
};

// RFC 6066 §3 SNI callback: present the certificate indexed under the requested name.
// No name or no certificate: a fatal unrecognized_name alert, so the client sees a clean
// handshake failure instead of a certificate for some other domain.
int select_certificate(SSL* ssl, int* alert, void* arg) {
  auto* certificates = static_cast<CertificateStore*>(arg);
  auto* note = static_cast<HandshakeNote*>(SSL_get_app_data(ssl));
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (note) {
    note->asked = true;
    note->server_name = name ? name : "";
  }
  if (!name) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  // The snapshot may be replaced right after; SSL_set_SSL_CTX takes its own reference
  // on the context, so the connection keeps its certificate.
  auto index = certificates->snapshot();
  auto selection = index->select(name, std::chrono::system_clock::now());
  if (!selection.certificate) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (!SSL_set_SSL_CTX(ssl, selection.certificate->context.get())) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (note) note->certificate_found = true;
  return SSL_TLSEXT_ERR_OK;
}

// Untrusted text (Host, path) goes into the log: printable ASCII only, bounded.
std::string printable(std::string_view text, size_t limit = 200) {
  std::string out;
  for (char c : text.substr(0, limit)) out.push_back(c > 0x20 && c < 0x7f ? c : '?');
  if (text.size() > limit) out += "...";
  if (out.empty()) out = "-";
  return out;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? "[" + address.to_string() + "]:" + std::to_string(endpoint.port())
                         : address.to_string() + ":" + std::to_string(endpoint.port());
}

std::string_view sv(beast::string_view text) { return {text.data(), text.size()}; }

// Log lines for events a client can repeat at will (failed handshakes, refused
// connections): a burst of 20, then 2 per second, with a count of what was left out.
class ThrottledLog {
 public:
  void report(const std::string& text) {
    std::lock_guard lock(mutex_);
    const auto now = SteadyClock::now();
    if (refilled_ != SteadyClock::time_point{}) {
      const std::chrono::duration<double> elapsed = now - refilled_;
      tokens_ = std::min(kBurst, tokens_ + elapsed.count() * kPerSecond);
    }
    refilled_ = now;
    if (tokens_ < 1) {
      ++suppressed_;
      return;
    }
    tokens_ -= 1;
    std::string line = text;
    if (suppressed_) line += " (" + std::to_string(suppressed_) + " similar lines left out)";
    suppressed_ = 0;
    log::warn(line);
  }

 private:
  static constexpr double kBurst = 20;
  static constexpr double kPerSecond = 2;
  std::mutex mutex_;
  double tokens_ = kBurst;
  SteadyClock::time_point refilled_{};
  uint64_t suppressed_ = 0;
};

}  // namespace

struct PolicyHostServer::Shared {
  Shared(PolicyHostSettings initial, PolicyLookup lookup_function, std::shared_ptr<CertificateStore> store,
         std::function<std::vector<std::string>()> domain_list)
      : settings(std::make_shared<const PolicyHostSettings>(std::move(initial))),
        lookup(std::move(lookup_function)),
        certificates(std::move(store)),
        domains(std::move(domain_list)),
        limits(settings.load()->limits),
        tls(make_server_context().release()) {
    SSL_CTX_set_tlsext_servername_callback(tls.native_handle(), &select_certificate);
    SSL_CTX_set_tlsext_servername_arg(tls.native_handle(), certificates.get());
  }
  std::shared_ptr<const PolicyHostSettings> current() const { return settings.load(std::memory_order_acquire); }

  std::atomic<std::shared_ptr<const PolicyHostSettings>> settings;
  PolicyLookup lookup;
  std::shared_ptr<CertificateStore> certificates;
  std::function<std::vector<std::string>()> domains;
  ClientLimits limits;
  ssl::context tls;   // no certificate of its own: the SNI callback switches contexts
  std::atomic<bool> stopping{false};
  std::atomic<size_t> requests_in_flight{0};
  ThrottledLog refused_log;
  ThrottledLog handshake_log;
  ThrottledLog accept_log;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<PolicyHostServer::Shared> shared, tcp::socket socket, ClientLimits::Ticket ticket,
          tcp::endpoint remote, size_t max_header_bytes)
      : shared_(std::move(shared)),
        stream_(std::move(socket), shared_->tls),
        buffer_(max_header_bytes + kReadChunk),
        ticket_(std::move(ticket)),
        remote_(remote) {
    SSL_set_app_data(stream_.native_handle(), &note_);
  }
  ~Session() { SSL_set_app_data(stream_.native_handle(), nullptr); }

  void start() {
    lowest().expires_after(shared_->current()->handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

 private:
  static constexpr size_t kReadChunk = 4096;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void on_handshake(beast::error_code ec) {
    if (ec) {
      std::string why;
      if (ec == beast::error::timeout)
        why = "not completed within " + std::to_string(shared_->current()->handshake_timeout.count()) + "s";
      else if (note_.asked && note_.server_name.empty())
        why = "the client sent no server name (SNI); certificates are only chosen by name";
      else if (note_.asked && !note_.certificate_found)
        why = "no certificate for " + printable(note_.server_name);
      else
        why = ec.message();
      ERR_clear_error();
      shared_->handshake_log.report("policyhost: " + endpoint_text(remote_) + " TLS handshake failed: " + why);
      return close_now();
    }
    if (const char* name = SSL_get_servername(stream_.native_handle(), TLSEXT_NAMETYPE_host_name)) sni_ = name;
    lowest().expires_after(shared_->current()->request_timeout);
    wait_for_request();
  }

  // Waits for the first byte of the next request: the idle wait of a kept-alive
  // connection is bounded by idle_timeout, the header itself by request_timeout.
  void wait_for_request() {
    if (shared_->stopping.load()) return shutdown();
    if (buffer_.size() > 0) return read_header();   // pipelined request already here
    if (!first_request_) lowest().expires_after(shared_->current()->idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                              self->buffer_.commit(bytes);
                              if (ec) return self->on_read_error(ec, /*idle=*/true);
                              self->read_header();
                            });
  }

  void read_header() {
    auto settings = shared_->current();
    request_started_ = SteadyClock::now();
    // The first request's deadline runs from the end of the handshake.
    if (!first_request_) lowest().expires_after(settings->request_timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(settings->max_header_bytes));
    http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->on_read_error(ec, /*idle=*/false);
      self->handle_request();
    });
  }

  void on_read_error(beast::error_code ec, bool idle) {
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      // RFC 6585 §5.
      return write_reply(error_reply(431, "request header fields too large"), 11, "-", true);
    }
    if (ec == beast::error::timeout) {
      if (!idle || first_request_)
        shared_->refused_log.report("policyhost: " + endpoint_text(remote_) + " closed: request header not complete within " +
                                    std::to_string(shared_->current()->request_timeout.count()) + "s");
      return close_now();
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return write_reply(error_reply(400, "malformed request: " + ec.message()), 11, "-", true);
    }
    // End of stream, truncation, reset: the client is gone.
    ERR_clear_error();
    close_now();
  }

  void handle_request() {
    const auto& request = parser_->get();
    auto settings = shared_->current();
    HttpRequestView view;
    view.method = sv(request.method_string());
    view.target = sv(request.target());
    view.version = request.version();
    size_t host_fields = 0;
    for (auto [it, end] = request.equal_range(http::field::host); it != end; ++it) {
      if (host_fields++ == 0) view.host = sv(it->value());
    }
    view.repeated_host = host_fields > 1;
    view.sni = sni_;
    // Anything still to read after the header is a body, which we never accept.
    view.has_body = !parser_->is_done();
    if (auto it = request.find(http::field::if_none_match); it != request.end()) view.if_none_match = sv(it->value());

    HttpReply reply;
    if (!shared_->limits.allow_request(remote_.address(), SteadyClock::now())) {
      reply = error_reply(429, "too many requests from this address; retry later");
      reply.headers.emplace_back("Retry-After", "1");   // RFC 6585 §4
      reply.close = true;
    } else {
      try {
        reply = route(view, shared_->lookup, RoutingSettings{settings->cache_max_age});
      } catch (const std::exception& error) {
        log::error(std::string("policyhost: policy lookup failed: ") + error.what());
        reply = error_reply(500, "internal error");
        reply.close = true;
      }
    }
    if (view.method == "HEAD") reply.send_body = false;   // RFC 9110 §9.3.2, whatever the status
    if (reply.host.empty() && view.host) reply.host = std::string(*view.host);
    if (reply.path.empty()) reply.path = std::string(view.target);
    const bool close = reply.close || !request.keep_alive() || view.has_body;
    write_reply(std::move(reply), request.version(), std::string(view.method), close);
  }

  void write_reply(HttpReply reply, unsigned version, std::string method, bool close) {
    shared_->requests_in_flight.fetch_add(1);
    if (request_started_ == SteadyClock::time_point{}) request_started_ = SteadyClock::now();
    response_ = {};
    response_.version(version);
    response_.result(reply.status);
    response_.set(http::field::server, "stsd");
    // RFC 9110 §6.6.1: an origin server with a clock sends Date.
    response_.set(http::field::date, http_date(std::chrono::system_clock::now()));
    for (const auto& [name, value] : reply.headers) response_.set(name, value);
    close_after_write_ = close || shared_->stopping.load();
    response_.keep_alive(!close_after_write_);
    if (reply.send_body) response_.body() = std::move(reply.body);
    log_method_ = std::move(method);
    log_host_ = std::move(reply.host);
    log_path_ = std::move(reply.path);
    lowest().expires_after(shared_->current()->request_timeout);
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    shared_->requests_in_flight.fetch_sub(1);
    if (shared_->current()->access_log) {
      const auto elapsed = std::chrono::duration<double, std::milli>(SteadyClock::now() - request_started_);
      log::f(log::Level::Info, "policyhost: %s %s host=%s path=%s status=%u bytes=%zu duration=%.3fms%s",
             endpoint_text(remote_).c_str(), printable(log_method_, 16).c_str(), printable(log_host_).c_str(),
             printable(log_path_).c_str(), response_.result_int(), response_.body().size(), elapsed.count(),
             ec ? (" write failed: " + ec.message()).c_str() : "");
    }
    request_started_ = {};
    if (ec) return close_now();
    if (close_after_write_) return shutdown();
    first_request_ = false;
    wait_for_request();
  }

  // close_notify, bounded: a client that never answers it is cut after 2 s.
  void shutdown() {
    lowest().expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close_now(); });
  }

  void close_now() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
    ERR_clear_error();
  }

  std::shared_ptr<PolicyHostServer::Shared> shared_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  ClientLimits::Ticket ticket_;
  tcp::endpoint remote_;
  HandshakeNote note_;
  std::string sni_;
  bool first_request_ = true;
  bool close_after_write_ = false;
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> response_;
  SteadyClock::time_point request_started_{};
  std::string log_method_, log_host_, log_path_;
};

}  // namespace

PolicyHostServer::PolicyHostServer(PolicyHostSettings settings, PolicyLookup lookup,
                                   std::shared_ptr<CertificateStore> certificates,
                                   std::function<std::vector<std::string>()> domains)
    : shared_(std::make_shared<Shared>(std::move(settings), std::move(lookup), std::move(certificates),
                                       std::move(domains))) {}

PolicyHostServer::~PolicyHostServer() { stop(); }

std::vector<std::shared_ptr<tcp::acceptor>> PolicyHostServer::bind(const PolicyHostSettings& settings) {
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  for (const auto& endpoint : settings.endpoints) {
    {
      // Keep an acceptor that stays in the new settings: binding its address again
      // would fail while it listens.
      std::lock_guard lock(acceptors_mutex_);
      auto same = std::find_if(acceptors_.begin(), acceptors_.end(), [&](const auto& a) {
        beast::error_code ignored;
        return a->local_endpoint(ignored) == endpoint;
      });
      if (same != acceptors_.end()) {
        acceptors.push_back(*same);
        continue;
      }
    }
    // Each acceptor on its own strand: its accept handlers and a reload's close never
    // run at the same time on two threads.
    auto acceptor = std::make_shared<tcp::acceptor>(net::make_strand(io_));
    beast::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec && endpoint.address().is_v6()) acceptor->set_option(net::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("policy_host: cannot listen on " + endpoint_text(endpoint) + ": " + ec.message());
    acceptors.push_back(std::move(acceptor));
  }
  return acceptors;
}

void PolicyHostServer::accept(std::shared_ptr<tcp::acceptor> acceptor) {
  acceptor->async_accept(net::make_strand(io_), [this, acceptor](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: pause instead of spinning.
      shared_->accept_log.report("policyhost: accept failed: " + ec.message());
      auto timer = std::make_shared<net::steady_timer>(acceptor->get_executor(), std::chrono::milliseconds(100));
      timer->async_wait([this, acceptor, timer](beast::error_code wait_error) {
        if (!wait_error) accept(acceptor);
      });
      return;
    }
    beast::error_code endpoint_error;
    const tcp::endpoint remote = socket.remote_endpoint(endpoint_error);
    if (!endpoint_error) {
      ClientLimits::Refusal why{};
      if (auto ticket = shared_->limits.admit(remote.address(), &why)) {
        try {
          std::make_shared<Session>(shared_, std::move(socket), std::move(*ticket), remote,
                                    shared_->current()->max_header_bytes)
              ->start();
        } catch (const std::exception& error) {
          ERR_clear_error();
          shared_->accept_log.report(std::string("policyhost: cannot start a connection: ") + error.what());
        }
      } else {
        const auto limits = shared_->current()->limits;
        shared_->refused_log.report(
            "policyhost: refused a connection from " + endpoint_text(remote) + ": " +
            (why == ClientLimits::Refusal::TooManyConnections
                 ? "max_connections (" + std::to_string(limits.max_connections) + ") reached"
                 : "max_connections_per_client (" + std::to_string(limits.max_connections_per_client) + ") reached"));
        socket.close(endpoint_error);
      }
    }
    accept(acceptor);
  });
}

void PolicyHostServer::start() {
  if (started_) return;
  auto settings = shared_->current();
  shared_->certificates->set_directory(settings->cert_dir);
  refresh_certificates_now();
  {
    auto acceptors = bind(*settings);
    std::lock_guard lock(acceptors_mutex_);
    acceptors_ = std::move(acceptors);
  }
  started_ = true;
  for (auto& acceptor : acceptors_) accept(acceptor);
  work_ = std::make_unique<net::executor_work_guard<net::io_context::executor_type>>(io_.get_executor());
  for (unsigned i = 0; i < settings->threads; ++i)
    threads_.emplace_back([this] {
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& error) {
          log::error(std::string("policyhost: unexpected error in a connection: ") + error.what());
        }
      }
    });
  poller_ = std::thread([this] { poll_certificates(); });
  std::string where;
  for (const auto& endpoint : local_endpoints()) where += (where.empty() ? "" : ", ") + endpoint_text(endpoint);
  log::f(log::Level::Info, "policyhost: serving https://mta-sts.<domain>/.well-known/mta-sts.txt on %s", where.c_str());
}

void PolicyHostServer::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  shared_->stopping.store(true);
  {
    std::lock_guard lock(acceptors_mutex_);
    for (auto& acceptor : acceptors_)
      net::post(acceptor->get_executor(), [acceptor] {
        beast::error_code ignored;
        acceptor->close(ignored);
      });
    acceptors_.clear();
  }
  // Replies being written finish; idle keep-alive connections are simply closed.
  const auto deadline = SteadyClock::now() + std::chrono::seconds(1);
  while (shared_->requests_in_flight.load() > 0 && SteadyClock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  work_.reset();
  io_.stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  {
    std::lock_guard lock(poll_mutex_);
    poll_stop_ = true;
  }
  poll_wakeup_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void PolicyHostServer::reconfigure(PolicyHostSettings settings) {
  auto current = shared_->current();
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  const bool rebind = started_ && !stopped_ && !current->same_listen(settings);
  if (rebind) acceptors = bind(settings);  // throws before anything changed
  if (settings.threads != current->threads)
    log::warn("policyhost: the new thread count applies after a restart");
  shared_->limits.update(settings.limits);
  shared_->certificates->set_directory(settings.cert_dir);
  shared_->settings.store(std::make_shared<const PolicyHostSettings>(std::move(settings)), std::memory_order_release);
  if (rebind) {
    std::lock_guard lock(acceptors_mutex_);
    for (auto& old : acceptors_) {
      if (std::find(acceptors.begin(), acceptors.end(), old) != acceptors.end()) continue;
      net::post(old->get_executor(), [old] {
        beast::error_code ignored;
        old->close(ignored);
      });
    }
    for (auto& acceptor : acceptors)
      if (std::find(acceptors_.begin(), acceptors_.end(), acceptor) == acceptors_.end()) accept(acceptor);
    acceptors_ = std::move(acceptors);
  }
  {
    std::lock_guard lock(poll_mutex_);
    poll_now_ = true;
  }
  poll_wakeup_.notify_all();
}

std::vector<tcp::endpoint> PolicyHostServer::local_endpoints() const {
  std::vector<tcp::endpoint> endpoints;
  std::lock_guard lock(acceptors_mutex_);
  for (const auto& acceptor : acceptors_) {
    beast::error_code ec;
    auto endpoint = acceptor->local_endpoint(ec);
    if (!ec) endpoints.push_back(endpoint);
  }
  return endpoints;
}

void PolicyHostServer::refresh_certificates_now() {
  auto& store = *shared_->certificates;
  if (!store.refresh()) return;
  auto index = store.snapshot();
  size_t names = 0;
  const auto now = std::chrono::system_clock::now();
  for (const auto& certificate : index->certificates()) {
    names += certificate->names.size();
    if (certificate->not_after <= now)
      log::warn("policyhost: certificate " + certificate->file.string() + " has expired; senders reject it");
    else if (certificate->not_before > now)
      log::warn("policyhost: certificate " + certificate->file.string() + " is not valid yet");
  }
  log::f(log::Level::Info, "policyhost: %zu certificate(s) for %zu name(s) loaded from %s, %zu file(s) skipped",
         index->certificates().size(), names, store.directory().c_str(), index->problems().size());
  for (const auto& problem : index->problems()) log::warn("policyhost: skipped " + problem);
  if (shared_->domains) {
    try {
      auto missing = store.domains_without_certificate(shared_->domains());
      if (!missing.empty()) {
        std::string list;
        for (size_t i = 0; i < missing.size() && i < 10; ++i)
          list += (i ? ", " : "") + CertificateReport::policy_host_name(missing[i]);
        if (missing.size() > 10) list += " and " + std::to_string(missing.size() - 10) + " more";
        log::warn("policyhost: no certificate for " + list + ": senders cannot fetch these policies");
      }
    } catch (const std::exception& error) {
      log::warn(std::string("policyhost: cannot list the policy domains: ") + error.what());
    }
  }
}

void PolicyHostServer::poll_certificates() {
  std::unique_lock lock(poll_mutex_);
  while (!poll_stop_) {
    poll_wakeup_.wait_for(lock, shared_->current()->cert_poll, [this] { return poll_stop_ || poll_now_; });
    if (poll_stop_) break;
    poll_now_ = false;
    lock.unlock();
    refresh_certificates_now();
    lock.lock();
  }
}

}  // namespace stsd::policyhost
