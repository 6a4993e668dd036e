#pragma once
// The `metrics:` service: plain HTTP `GET /metrics`, and the probes `/healthz` and
// `/readyz` (probes.h), on an http::Server (src/http/), on its own thread, apart from the
// DNS workers, so a slow or hostile scraper never delays an answer. It starts before the
// chains are built, so the probes answer while the store loads its index.
//
// Limits: at most kMaxConnections that sent a request and as many waiting for their
// first (http/connection_limits.h; past the cap a 503); a request header
// of at most kMaxHeaderBytes and a body of at most kMaxBodyBytes; a request must start
// within kRequestTimeout of the connection or of the previous reply, and arrive whole
// within kRequestTimeout of its first byte; each reply is written within the same time.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "config.h"
#include "environment.h"
#include "http/server.h"
#include "metrics.h"
#include "readiness.h"
#include "registry.h"

namespace stsd::metrics_plugin {

using metrics::metrics_registry;
using metrics::MetricsRegistry;
using metrics::MetricsWriter;

inline constexpr const char* kDefaultListen = "127.0.0.1:9153";  // CoreDNS's port
inline constexpr size_t kMaxConnections = 64;
inline constexpr size_t kMaxHeaderBytes = 8192;
inline constexpr size_t kMaxBodyBytes = 1024;
inline constexpr std::chrono::seconds kRequestTimeout{10};

struct ExporterSettings {
  std::vector<std::string> listen;  // as written
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
};

// `metrics:` (null or {}) or `metrics: { listen: ADDR:PORT | [list] }`. Throws ConfigError.
ExporterSettings parse_exporter_settings(const ConfigNode& section);

// The `metrics:` endpoint's HTTP server (not started): GET/HEAD /metrics, /healthz and
// /readyz, 404 for other paths, 405 for other methods.
std::unique_ptr<http::Server> make_metrics_server(std::shared_ptr<MetricsRegistry> registry,
                                                  std::shared_ptr<const Readiness> readiness);
// The reply to one request, given the current scrape and readiness.
http::Reply metrics_reply(const http::Request& request, MetricsRegistry& registry, const Readiness& readiness);

// Registers process-wide collectors: stsd_build_info, process_start_time_seconds,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
// process_open_fds (from /proc/self).
MetricsRegistry::Registration register_process_metrics(MetricsRegistry& registry);

class MetricsService final : public Service {
 public:
  MetricsService(ExporterSettings settings, Environment& env) : settings_(std::move(settings)), env_(env) {}
  ~MetricsService() override { stop(); }
  void start() override;
  void stop() override;
  void prepare_reload(const ConfigNode* section, PendingLoad& load) override;
  bool starts_before_chains() const override { return true; }

  const http::Server* server() const { return server_.get(); }

 private:
  void register_collectors(MetricsRegistry& registry);
  void announce() const;

  ExporterSettings settings_;
  Environment& env_;
  std::shared_ptr<http::Server> server_;
  MetricsRegistry::Registration process_metrics_;
  MetricsRegistry::Registration readiness_metrics_;
};

}  // namespace stsd::metrics_plugin
