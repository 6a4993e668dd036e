#include "server/server.h"

#include <chrono>
#include <future>

#include <signal.h>

#include <boost/asio/signal_set.hpp>

#include "logging.h"
#include "server/descriptor_budget.h"

namespace stsd {
namespace {
std::vector<std::string> fingerprint(const std::vector<ServerBlock>& blocks) {
  std::vector<std::string> out;
  for (const auto& b : blocks) {
    std::string f;
    for (const auto& e : b.endpoints) f += e.address().to_string() + "#" + std::to_string(e.port()) + " ";
    out.push_back(f);
  }
  return out;
}
// A service the new config adds starts last in phase one: starting is the one step that
// can fail on the system (a port in use), and undoing it is stopping it again.
void start_added_services(std::vector<NamedService>& added) {
  for (size_t i = 0; i < added.size(); ++i) {
    try {
      added[i].service->start();
    } catch (const std::exception& e) {
      for (size_t j = i; j-- > 0;) added[j].service->stop();
      throw ConfigError("'" + added[i].key + "' could not start: " + e.what());
    }
  }
}
}  // namespace

Server::Server(std::filesystem::path config_path, const Registry& registry, std::shared_ptr<Clock> clock)
    : config_path_(std::move(config_path)), registry_(registry), clock_(std::move(clock)) {}

Server::~Server() { stop(); }

void Server::start() {
  const auto root = load_config_file(config_path_);
  settings_ = parse_core_settings(root, registry_);
  log::set_min_level(settings_.log_level);
  env_ = std::make_unique<Environment>(std::filesystem::absolute(config_path_).parent_path(), settings_.storage, clock_,
                                       false, settings_.storage_min_free_mib << 20);
  // The core's gate, added before any other and opened last: nothing is ready before
  // every chain is published, every listener bound and every service started.
  readiness_ = Readiness::of(*env_);
  listeners_bound_ = readiness_->add_gate("listeners-bound");
  notifier_ = ReadinessNotifier::listen(NotifySocket::from_environment(), readiness_);
  // Service factories only read their section, so they may run first; the services that
  // start before the chains (health and readiness probes) then answer while the chains
  // are built and the store loads its index.
  services_ = build_services(root, registry_, *env_);
  for (auto& s : services_)
    if (s.service->starts_before_chains()) s.service->start();
  PendingLoad load;
  auto blocks = build_server_blocks(root, registry_, *env_, load);
  listen_fingerprint_ = fingerprint(blocks);
  load.commit();

  std::vector<Worker::Endpoint> endpoints;
  for (size_t i = 0; i < blocks.size(); ++i) {
    slots_.push_back(std::make_shared<ChainSlot>(blocks[i].chain));
    for (const auto& e : blocks[i].endpoints) endpoints.push_back({e, i});
  }
  unsigned count = settings_.workers ? settings_.workers : std::max(1u, std::thread::hardware_concurrency());
  const auto open_files = raise_open_file_limit();
  const auto tcp_cap = size_tcp_connection_cap(open_files.soft, count, endpoints.size(), settings_.tcp_max_connections);
  log::line(tcp_cap.lowered() ? log::Level::Warning : log::Level::Info,
            describe_descriptor_budget(open_files, tcp_cap));
  ListenerSettings listener_settings{settings_.udp_size,         settings_.udp_io,
                                     settings_.udp_burst_datagrams, settings_.udp_burst_wait,
                                     settings_.tcp_idle_timeout,    settings_.tcp_io_timeout,
                                     tcp_cap.connections};
  for (unsigned i = 0; i < count; ++i) {
    workers_.push_back(std::make_unique<Worker>(slots_, listener_settings, tcp_connections_));
    workers_.back()->bind(endpoints);
  }
  for (auto& s : services_)
    if (!s.service->starts_before_chains()) s.service->start();
  for (auto& w : workers_) threads_.emplace_back([worker = w.get()] { worker->run(); });
  std::string where;
  for (const auto& b : blocks)
    for (const auto& l : b.listen) where += (where.empty() ? "" : ", ") + l;
  log::f(log::Level::Info, "stsd %s serving on %s (udp and tcp) with %u workers", STSD_VERSION, where.c_str(), count);
  listeners_bound_.open();
}

std::string Server::reload() {
  try {
    const auto root = load_config_file(config_path_);
    auto settings = parse_core_settings(root, registry_);
    if (settings.storage != settings_.storage) root.get("storage")->fail("changing storage needs a restart");
    if (settings.storage_min_free_mib != settings_.storage_min_free_mib) {
      auto key = root.get("storage_min_free_mib");
      (key ? *key : root).fail("changing storage_min_free_mib needs a restart");
    }
    // Phase one: everything prepares from the new config; nothing observable changes, so
    // an error in any section, the last one included, leaves the old config whole.
    PendingLoad load;
    auto blocks = build_server_blocks(root, registry_, *env_, load);
    if (fingerprint(blocks) != listen_fingerprint_)
      root.require("servers").fail("server blocks or listen addresses changed; restart stsd to apply them");
    for (auto& s : services_) {
      auto section = root.get(s.key);
      s.service->prepare_reload(section ? &*section : nullptr, load);
    }
    std::vector<NamedService> added;
    for (const auto& entry : registry_.services()) {
      bool running = false;
      for (auto& s : services_) running |= s.key == entry.key;
      if (running) continue;
      auto section = root.get(entry.key);
      if (!section) continue;
      if (auto service = entry.factory(&*section, *env_)) added.push_back({entry.key, std::move(service)});
    }
    start_added_services(added);
    // Phase two: publish the chains and apply what the plugins and services prepared.
    for (size_t i = 0; i < blocks.size(); ++i) slots_[i]->publish(blocks[i].chain);
    load.commit();
    for (auto& s : added) services_.push_back(std::move(s));
    log::set_min_level(settings.log_level);
    log::info("config reloaded from " + config_path_.string());
    return {};
  } catch (const std::exception& e) {
    log::error(std::string("reload rejected, the previous config keeps serving: ") + e.what());
    return e.what();
  }
}

void Server::run_until_signal() {
  boost::asio::io_context control;
  boost::asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      notifier_->reloading();
      notifier_->reload_done(reload());
      signals.async_wait(on_signal);
      return;
    }
    log::f(log::Level::Info, "signal %d: stopping", signal);
  };
  signals.async_wait(on_signal);
  // main() blocked these signals while the server started; one that arrived meanwhile is
  // delivered now, to the signal_set.
  sigset_t handled;
  sigemptyset(&handled);
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, signal);
  pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
  control.run();
  stop();
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  // Probes and the service manager hear of it before the listeners close.
  if (notifier_) notifier_->stopping();
  for (auto& w : workers_) w->stop();
  // In-flight answers finish; a connection that will not finish is cut after a grace.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (size_t i = 0; i < threads_.size(); ++i) {
    auto done = std::async(std::launch::async, [&t = threads_[i]] { t.join(); });
    if (done.wait_until(deadline) == std::future_status::timeout) {
      for (auto& w : workers_) w->force_stop();
      done.wait();
    }
  }
  threads_.clear();
  for (auto it = services_.rbegin(); it != services_.rend(); ++it) it->service->stop();
  services_.clear();
  workers_.clear();
  slots_.clear();
  notifier_.reset();
  readiness_.reset();
  env_.reset();
  log::info("stopped");
}

std::string check_config(const std::filesystem::path& config_path, const Registry& registry) {
  try {
    const auto root = load_config_file(config_path);
    auto settings = parse_core_settings(root, registry);
    Environment env(std::filesystem::absolute(config_path).parent_path(), settings.storage, nullptr, true);
    PendingLoad load;  // never committed: checking changes nothing
    build_server_blocks(root, registry, env, load);
    build_services(root, registry, env);
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace stsd
