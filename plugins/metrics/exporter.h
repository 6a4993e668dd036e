#pragma once
// The `metrics:` service: plain HTTP `GET /metrics` on its own thread and io_context,
// apart from the DNS workers, so a slow or hostile scraper never delays an answer.
//
// Limits: at most kMaxConnections at once (more are closed at once); a request header
// of at most kMaxHeaderBytes and a body of at most kMaxBodyBytes; each request must
// arrive complete within kRequestTimeout of the previous response (or of the
// connection), and each response must be written within the same time.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config.h"
#include "environment.h"
#include "metrics.h"
#include "registry.h"

namespace stsd::metrics_plugin {

using metrics::MetricsRegistry;
using metrics::MetricsWriter;
using metrics::metrics_registry;

inline constexpr const char* kDefaultListen = "127.0.0.1:9153";   // CoreDNS's port
inline constexpr size_t kMaxConnections = 64;
inline constexpr size_t kMaxHeaderBytes = 8192;
inline constexpr size_t kMaxBodyBytes = 1024;
inline constexpr std::chrono::seconds kRequestTimeout{10};

struct ExporterSettings {
  std::vector<std::string> listen;                      // as written
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
};

// `metrics:` (null or {}) or `metrics: { listen: ADDR:PORT | [list] }`. Throws ConfigError.
ExporterSettings parse_exporter_settings(const ConfigNode& section);

class MetricsHttpServer {
 public:
  explicit MetricsHttpServer(std::shared_ptr<MetricsRegistry> registry);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds every endpoint (std::runtime_error naming the address when one cannot be
  // bound; nothing is left bound then) and starts the thread.
  void start(const std::vector<boost::asio::ip::tcp::endpoint>& endpoints);
  // Binds the new endpoints, then closes the old acceptors (std::runtime_error and no
  // change when binding fails). Connections already open finish.
  void rebind(const std::vector<boost::asio::ip::tcp::endpoint>& endpoints);
  void stop();

  std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;

  struct Shared;   // what connections share; defined in exporter.cpp

 private:
  using Acceptor = boost::asio::ip::tcp::acceptor;
  std::vector<std::shared_ptr<Acceptor>> bind(const std::vector<boost::asio::ip::tcp::endpoint>& endpoints);
  void accept(std::shared_ptr<Acceptor> acceptor);

  std::shared_ptr<Shared> shared_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  mutable std::mutex acceptors_mutex_;
  std::vector<std::shared_ptr<Acceptor>> acceptors_;
  bool started_ = false;
  bool stopped_ = false;
};

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

  const MetricsHttpServer* server() const { return server_.get(); }

 private:
  ExporterSettings settings_;
  Environment& env_;
  std::unique_ptr<MetricsHttpServer> server_;
  MetricsRegistry::Registration process_metrics_;
};

}  // namespace stsd::metrics_plugin
