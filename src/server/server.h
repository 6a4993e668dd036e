#pragma once
// The stsd process: loads the config, runs the workers and services, reloads on SIGHUP
// and stops gracefully on SIGTERM/SIGINT, telling the service manager each step
// (server/sd_notify.h).
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "environment.h"
#include "readiness.h"
#include "registry.h"
#include "server/listeners.h"
#include "server/runtime.h"
#include "server/sd_notify.h"

namespace stsd {

class Server {
 public:
  Server(std::filesystem::path config_path, const Registry& registry, std::shared_ptr<Clock> clock);
  ~Server();

  // Loads the config, builds chains and services, binds every listener. Throws
  // ConfigError or std::runtime_error with a message for the operator.
  void start();
  // Blocks until SIGTERM or SIGINT (SIGHUP reloads), then stops gracefully.
  void run_until_signal();
  // Rebuilds chains and reloads services from the config file; on any error the old
  // config keeps serving and the error is returned (empty string: success).
  std::string reload();
  void stop();

 private:
  std::filesystem::path config_path_;
  const Registry& registry_;
  std::shared_ptr<Clock> clock_;
  CoreSettings settings_;
  std::unique_ptr<Environment> env_;
  std::shared_ptr<Readiness> readiness_;
  std::shared_ptr<ReadinessNotifier> notifier_;
  // Kept while the server lives: a start that fails part-way must not withdraw it and
  // leave the other gates looking like readiness.
  Readiness::Gate listeners_bound_;
  std::vector<std::string> listen_fingerprint_;
  std::vector<std::shared_ptr<ChainSlot>> slots_;
  std::vector<NamedService> services_;
  std::atomic<size_t> tcp_connections_{0};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

// `stsd --check-config`: validates everything without binding sockets or opening the
// store. Returns the error message, or an empty string when the config is valid.
std::string check_config(const std::filesystem::path& config_path, const Registry& registry);

}  // namespace stsd
