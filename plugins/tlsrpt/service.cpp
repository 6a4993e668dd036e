#include "tlsrpt/service.h"

#include <algorithm>

#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "logging.h"
#include "store/admin_extensions.h"
#include "store/errors.h"
#include "store/names.h"

namespace stsd::tlsrpt {
namespace {

using nlohmann::json;

http::Reply json_reply(unsigned status, const json& body) {
  http::Reply reply;
  reply.status = status;
  reply.headers = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
  reply.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return reply;
}

std::string media_type_of(const std::string* content_type) {
  std::string media = content_type ? content_type->substr(0, content_type->find(';')) : std::string();
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  std::transform(media.begin(), media.end(), media.begin(), [](unsigned char c) { return std::tolower(c); });
  return media;
}

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

// One certificate for every name the clients ask for: reporters POST to the URL the
// domain's rua names (RFC 8460 §3), which is the provider's one intake host.
http::TlsSettings load_tls(const ServiceSettings& settings) {
  auto context = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  // RFC 8996: no TLS before 1.2.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx, settings.certificate.c_str()) != 1)
    throw ConfigError("tlsrpt.certificate: " + settings.certificate.string() + ": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx, settings.key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw ConfigError("tlsrpt.key: " + settings.key.string() + ": " + openssl_error());
  if (SSL_CTX_check_private_key(ctx) != 1)
    throw ConfigError("tlsrpt.key: " + settings.key.string() + " does not match the certificate: " + openssl_error());
  http::TlsSettings tls;
  tls.context = context;
  tls.select = [context](std::string_view) { return http::SelectedCertificate{context->native_handle(), context}; };
  return tls;
}

http::ServerSettings server_settings(const ServiceSettings& settings) {
  http::ServerSettings s;
  s.name = "tlsrpt";
  s.threads = 2;
  s.connection.server_header = "stsd-tlsrpt";
  s.connection.limits = {.max_header_bytes = 8192, .max_body_bytes = settings.intake.max_compressed_bytes};
  s.limits.max_connections = settings.max_connections;
  s.limits.max_connections_per_client = std::max<size_t>(1, settings.max_connections / 8);
  s.limits.requests_per_second = settings.requests_per_second;
  s.limits.burst = settings.burst;
  return s;
}

std::vector<http::ListenAddress> listen_addresses(const ServiceSettings& settings) {
  std::vector<http::ListenAddress> addresses;
  for (const auto& endpoint : settings.listen) addresses.push_back(http::ListenAddress::tcp(endpoint, /*tls=*/true));
  return addresses;
}

bool valid_day(const std::string& day) {
  if (day.size() != 10 || day[4] != '-' || day[7] != '-') return false;
  try {
    parse_date_time(day + "T00:00:00Z", "since");
    return true;
  } catch (const ReportRefused&) {
    return false;
  }
}

store::AdminExtensions::ApiReply reports_get(Intake& intake, const store::AdminExtensions::ApiCall& call,
                                             int64_t now) {
  for (const auto& [name, value] : call.query)
    if (name != "domain" && name != "since" && name != "stale")
      return {400, json{{"error", "query parameter '" + name + "': unknown (domain, since, stale)"}}};
  auto stale = call.query.find("stale");
  if (stale != call.query.end()) {
    if (stale->second != "true" && stale->second != "1")
      return {400, json{{"error", "query parameter 'stale': expected true"}}};
    return {200, intake.reports().stale_domains()};
  }
  auto domain = call.query.find("domain");
  if (domain == call.query.end())
    return {400, json{{"error", "query parameter 'domain': missing (or stale=true for every domain)"}}};
  std::string since = utc_day(now - (intake.settings().storage.retention_days - 1) * 86400);
  if (auto given = call.query.find("since"); given != call.query.end()) {
    if (!valid_day(given->second))
      return {400, json{{"error", "query parameter 'since': '" + given->second + "' is not a day YYYY-MM-DD"}}};
    since = given->second;
  }
  return {200, intake.reports().domain_summary(store::normalize_domain(domain->second), since)};
}

}  // namespace

http::Reply handle_https(const http::Request& request, const std::string& path, Intake& intake) {
  const std::string target = request.target.substr(0, request.target.find('?'));
  if (target != path) return json_reply(404, json{{"error", "no such endpoint: reports go to POST " + path}});
  if (request.method != "POST") {
    http::Reply reply = json_reply(405, json{{"error", request.method + " is not allowed; reports are POSTed"}});
    reply.headers.emplace_back("Allow", "POST");
    return reply;
  }
  const std::string source = "https " + request.peer.address().to_string();
  const IngestResult result = intake.ingest(request.body, media_type_of(request.header("Content-Type")), source);
  http::Reply reply = json_reply(outcome_status(result.outcome), result.document());
  if (result.outcome == Outcome::StoreUnavailable) reply.headers.emplace_back("Retry-After", "60");
  return reply;
}

void register_admin_routes(Environment& env, const std::shared_ptr<Intake>& intake) {
  auto hooks = store::AdminExtensions::get(env);
  auto store = store::PolicyStore::open(env);
  hooks->add_api_route("POST", "reports", {std::string(kGzipType), std::string(kJsonType)},
                       [intake](const store::AdminExtensions::ApiCall& call) -> store::AdminExtensions::ApiReply {
                         if (!call.query.empty()) return {400, json{{"error", "POST /v1/reports takes no query"}}};
                         if (call.body.empty())
                           return {400, json{{"error", "body: empty (send the report as " + std::string(kGzipType) +
                                                           " or " + std::string(kJsonType) + ")"}}};
                         const IngestResult result = intake->ingest(call.body, call.media_type, "admin");
                         return {outcome_status(result.outcome), result.document()};
                       });
  hooks->add_api_route("GET", "reports", {},
                       [intake, store](const store::AdminExtensions::ApiCall& call) {
                         return reports_get(*intake, call, store->now());
                       });
  hooks->add_status_section("tlsrpt", [intake, store](const std::string& domain) {
    return intake->reports().status_section(domain, store->now());
  });
}

void TlsrptService::start() {
  auto store = store::PolicyStore::open(env_);
  intake_ = std::make_shared<Intake>(store, settings_.intake);
  register_admin_routes(env_, intake_);
  metrics_ = metrics::metrics_registry(env_)->add(
      "tlsrpt", [intake = intake_](metrics::MetricsWriter& writer) { intake->write_metrics(writer); });
  if (!settings_.listen.empty()) {
    http::Hooks hooks;
    hooks.handler = [intake = intake_, path = settings_.path](const http::Request& request) {
      return handle_https(request, path, *intake);
    };
    hooks.error_reply = [](unsigned status, std::string_view message) {
      return json_reply(status, json{{"error", std::string(message)}});
    };
    server_ = std::make_unique<http::Server>(server_settings(settings_), std::move(hooks), load_tls(settings_));
    server_->start(listen_addresses(settings_));
    for (const auto& endpoint : server_->tcp_endpoints())
      log::f(log::Level::Info, "tlsrpt: taking reports at https://%s:%u%s", endpoint.address().to_string().c_str(),
             endpoint.port(), settings_.path.c_str());
  }
  sweeper_ = std::thread([this] { run_sweeper(); });
}

void TlsrptService::run_sweeper() {
  std::unique_lock lock(sweep_mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      const size_t dropped = intake_->reports().sweep(store::PolicyStore::open(env_)->now());
      if (dropped) log::f(log::Level::Info, "tlsrpt: dropped %zu day(s) of reports past the retention period", dropped);
    } catch (const std::exception& error) {
      log::f(log::Level::Warning, "tlsrpt: retention sweep failed (retried in %lld s): %s",
             static_cast<long long>(settings_.sweep_interval.count()), error.what());
    }
    lock.lock();
    sweep_wake_.wait_for(lock, settings_.sweep_interval, [&] { return stopping_; });
  }
}

void TlsrptService::stop() {
  {
    std::lock_guard lock(sweep_mutex_);
    stopping_ = true;
  }
  sweep_wake_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  if (server_) server_->stop();
  server_.reset();
  metrics_.reset();
}

void TlsrptService::prepare_reload(const ConfigNode* section, PendingLoad&) {
  // The intake keeps its settings until a restart; a changed section is refused rather
  // than half applied (README.md, "Reload").
  if (section && parse_settings(*section) == settings_) return;
  throw ConfigError("tlsrpt: the section changed; its changes take effect on restart (the running stsd keeps the "
                    "old tlsrpt settings; restore them or restart)");
}

std::unique_ptr<Service> make_service(const ConfigNode* section, Environment& env) {
  if (!section) return nullptr;
  auto settings = parse_settings(*section);
  if (!settings.listen.empty()) load_tls(settings);  // refuses a config whose files cannot serve
  return std::make_unique<TlsrptService>(std::move(settings), env);
}

}  // namespace stsd::tlsrpt

void stsd_register_tlsrpt(stsd::Registry& registry) { registry.add_service("tlsrpt", stsd::tlsrpt::make_service); }
