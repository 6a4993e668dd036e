#include "server.h"

#include <atomic>
#include <optional>

#include "logging.h"
#include "utc_time.h"

namespace stsd::policyhost {

using tcp = boost::asio::ip::tcp;

namespace {

// The certificate the store holds for a TLS client's server name (RFC 6066 §3); the
// snapshot stays alive until OpenSSL took its own reference on the context.
http::CertificateSelector certificate_selector(std::shared_ptr<CertificateStore> certificates) {
  return [certificates = std::move(certificates)](std::string_view name) -> http::SelectedCertificate {
    auto index = certificates->snapshot();
    auto selection = index->select(name, std::chrono::system_clock::now());
    if (!selection.certificate) return {};
    return {selection.certificate->context.get(), index};
  };
}

http::ServerSettings server_settings(const PolicyHostSettings& settings) {
  http::ServerSettings out;
  out.name = "policyhost";
  out.threads = settings.threads;
  out.connection.limits = {.max_header_bytes = settings.max_header_bytes, .max_body_bytes = 0};  // bodies never read
  out.connection.timeouts = {.handshake = settings.handshake_timeout,
                             .first_request = settings.request_timeout,
                             .idle = settings.idle_timeout,
                             .request = settings.request_timeout,
                             .write = settings.request_timeout};
  out.limits = settings.limits;
  out.stop_grace = std::chrono::seconds(1);
  return out;
}

std::vector<http::ListenAddress> listen_addresses(const PolicyHostSettings& settings) {
  std::vector<http::ListenAddress> addresses;
  for (const auto& endpoint : settings.endpoints) addresses.push_back(http::ListenAddress::tcp(endpoint, /*tls=*/true));
  return addresses;
}

}  // namespace

struct PolicyHostServer::Shared {
  std::atomic<std::shared_ptr<const PolicyHostSettings>> settings;
  PolicyLookup lookup;
  std::shared_ptr<CertificateStore> certificates;
  std::function<std::vector<std::string>()> domains;

  std::shared_ptr<const PolicyHostSettings> current() const { return settings.load(std::memory_order_acquire); }

  http::Reply handle(const http::Request& request) const {
    HttpRequestView view;
    view.method = request.method;
    view.target = request.target;
    view.version = request.version;
    view.host = request.header("Host") ? std::optional<std::string_view>(*request.header("Host")) : std::nullopt;
    view.repeated_host = http::count_headers(request.headers, "Host") > 1;
    view.sni = request.server_name;
    view.has_body = request.unread_body;
    if (const auto* tag = request.header("If-None-Match")) view.if_none_match = *tag;
    HttpReply routed;
    try {
      routed = route(view, lookup, RoutingSettings{current()->cache_max_age});
    } catch (const std::exception& error) {
      log::error(std::string("policyhost: policy lookup failed: ") + error.what());
      routed = error_reply(500, "internal error");
      routed.close = true;
    }
    http::Reply reply;
    reply.status = routed.status;
    reply.headers = std::move(routed.headers);
    if (routed.send_body) reply.body = std::move(routed.body);
    reply.close = routed.close;
    reply.log_note = "host=" + http::printable(routed.host) + " path=" + http::printable(routed.path);
    return reply;
  }

  // One line per request: client, method, host, path, status, body bytes and duration.
  void log_exchange(const http::Exchange& exchange) const {
    if (!current()->access_log) return;
    const std::string method = exchange.request ? http::printable(exchange.request->method, 16) : "-";
    const std::string where = exchange.log_note.empty() ? "host=- path=-" : exchange.log_note;
    log::f(log::Level::Info, "policyhost: %s %s %s status=%u bytes=%zu duration=%.3fms%s", exchange.peer.c_str(),
           method.c_str(), where.c_str(), exchange.status, exchange.body_bytes, exchange.milliseconds,
           exchange.write_error.empty() ? "" : (" write failed: " + exchange.write_error).c_str());
  }
};

PolicyHostServer::PolicyHostServer(PolicyHostSettings settings, PolicyLookup lookup,
                                   std::shared_ptr<CertificateStore> certificates,
                                   std::function<std::vector<std::string>()> domains)
    : shared_(std::make_shared<Shared>()) {
  shared_->lookup = std::move(lookup);
  shared_->certificates = certificates;
  shared_->domains = std::move(domains);
  http::TlsSettings tls;
  // No certificate of its own: the SNI selector switches contexts.
  tls.context = std::make_shared<boost::asio::ssl::context>(make_server_context().release());
  tls.select = certificate_selector(std::move(certificates));
  http::Hooks hooks;
  hooks.handler = [shared = shared_](const http::Request& request) { return shared->handle(request); };
  hooks.on_exchange = [shared = shared_](const http::Exchange& exchange) { shared->log_exchange(exchange); };
  http_ = std::make_unique<http::Server>(server_settings(settings), std::move(hooks), std::move(tls));
  shared_->settings.store(std::make_shared<const PolicyHostSettings>(std::move(settings)));
}

PolicyHostServer::~PolicyHostServer() { stop(); }

PolicyHostSettings PolicyHostServer::settings() const { return *shared_->current(); }

void PolicyHostServer::start(Prepared prepared) {
  if (started_) return;
  shared_->certificates->set_directory(shared_->current()->cert_dir);
  refresh_certificates_now();
  http_->listen(std::move(prepared));
  started_ = true;
  poller_ = std::thread([this] { poll_certificates(); });
  std::string where;
  for (const auto& endpoint : local_endpoints()) where += (where.empty() ? "" : ", ") + http::endpoint_text(endpoint);
  log::f(log::Level::Info, "policyhost: serving https://mta-sts.<domain>/.well-known/mta-sts.txt on %s", where.c_str());
}

void PolicyHostServer::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  http_->stop();
  {
    std::lock_guard lock(poll_mutex_);
    poll_stop_ = true;
  }
  poll_wakeup_.notify_all();
  if (poller_.joinable()) poller_.join();
}

PolicyHostServer::Prepared PolicyHostServer::prepare(const PolicyHostSettings& settings) {
  return http_->prepare(listen_addresses(settings));
}

void PolicyHostServer::commit(PolicyHostSettings settings, Prepared prepared) {
  auto current = shared_->current();
  if (settings.threads != current->threads) log::warn("policyhost: the new thread count applies after a restart");
  http_->update(server_settings(settings));
  shared_->certificates->set_directory(settings.cert_dir);
  shared_->settings.store(std::make_shared<const PolicyHostSettings>(std::move(settings)), std::memory_order_release);
  if (started_ && !stopped_) http_->listen(std::move(prepared));
  {
    std::lock_guard lock(poll_mutex_);
    poll_now_ = true;
  }
  poll_wakeup_.notify_all();
}

std::vector<tcp::endpoint> PolicyHostServer::local_endpoints() const { return http_->tcp_endpoints(); }

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
