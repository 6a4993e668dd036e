#pragma once
// An HTTP server: its own io_context and threads (never the DNS workers, so no HTTP
// client can delay a DNS answer), a ListenerSet, and the connection handler. A service
// (admin API, policy host, metrics) supplies the settings and a Handler; everything
// about sockets, limits and timeouts is here.
//
//   http::Server server(settings, {.handler = [](const http::Request& r) { ... }});
//   server.start({http::ListenAddress::tcp(endpoint)});     // throws BindError
//   // on reload, phase one (may throw; nothing changed then):
//   auto prepared = server.prepare(new_addresses);
//   // phase two:
//   server.update(new_settings); server.listen(std::move(prepared));
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "http/connection.h"
#include "http/connection_limits.h"
#include "http/listener_set.h"

namespace stsd::http {

struct ServerSettings {
  std::string name;      // prefixes log lines: "metrics: accept failed: ..."
  unsigned threads = 1;  // fixed at construction
  ConnectionSettings connection;
  ConnectionLimits::Settings limits;
  std::chrono::milliseconds stop_grace{1000};  // replies in progress at stop
};

class Server {
 public:
  using Prepared = ListenerSet::Prepared;

  Server(ServerSettings settings, Hooks hooks, TlsSettings tls = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Phase one: binds what `addresses` adds (BindError naming the address). Nothing a
  // client can see changes.
  Prepared prepare(const std::vector<ListenAddress>& addresses);
  // Phase two: accepts on `prepared` (starting the threads the first time) and closes
  // the listeners it does not list.
  void listen(Prepared prepared);
  void start(const std::vector<ListenAddress>& addresses) { listen(prepare(addresses)); }
  // New limits, timeouts and caps for what comes next (threads and name stay).
  void update(const ServerSettings& settings);
  // Stops accepting, closes connections waiting for a request, lets replies in progress
  // finish (stop_grace at most), removes the unix socket files, joins the threads.
  // Idempotent.
  void stop();

  std::vector<ListenAddress> addresses() const { return listeners_->addresses(); }
  std::vector<boost::asio::ip::tcp::endpoint> tcp_endpoints() const { return listeners_->tcp_endpoints(); }
  const ListenerSet& listeners() const { return *listeners_; }
  size_t open_connections() const { return context_->open_connections(); }

 private:
  void run_thread();

  ServerSettings settings_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::shared_ptr<ConnectionLimits> limits_;
  std::shared_ptr<ConnectionContext> context_;
  std::unique_ptr<ListenerSet> listeners_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace stsd::http
