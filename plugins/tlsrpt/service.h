#pragma once
// The `tlsrpt:` service: the intake (intake.h) with its HTTPS listener (RFC 8460 §3), the
// admin API routes POST/GET /v1/reports and the "tlsrpt" status section (through
// store::AdminExtensions), the metrics, and the retention sweep.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "environment.h"
#include "http/server.h"
#include "metrics.h"
#include "registry.h"
#include "tlsrpt/intake.h"
#include "tlsrpt/settings.h"

namespace stsd::tlsrpt {

// The HTTPS intake's answer to one request (a pure function of the request and the
// intake, for tests): POST of a report to `path` -> 200 with the IngestResult document,
// or 4xx/5xx naming what was refused.
http::Reply handle_https(const http::Request& request, const std::string& path, Intake& intake);

// The admin API's routes and status section over `intake` (registered by the service;
// tests call them directly).
void register_admin_routes(Environment& env, const std::shared_ptr<Intake>& intake);

// The factory of the `tlsrpt:` section (nullptr without one).
std::unique_ptr<Service> make_service(const ConfigNode* section, Environment& env);

class TlsrptService final : public Service {
 public:
  TlsrptService(ServiceSettings settings, Environment& env) : settings_(std::move(settings)), env_(env) {}
  ~TlsrptService() override { stop(); }
  void start() override;
  void stop() override;
  void prepare_reload(const ConfigNode* section, PendingLoad& load) override;

 private:
  void run_sweeper();

  ServiceSettings settings_;
  Environment& env_;
  std::shared_ptr<Intake> intake_;
  std::unique_ptr<http::Server> server_;
  metrics::MetricsRegistry::Registration metrics_;
  std::mutex sweep_mutex_;
  std::condition_variable sweep_wake_;
  bool stopping_ = false;
  std::thread sweeper_;
};

}  // namespace stsd::tlsrpt
