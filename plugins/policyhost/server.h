#pragma once
// The HTTPS policy host: serves https://mta-sts.<domain>/.well-known/mta-sts.txt
// (RFC 8461 §3.3) on its own io_context and threads, apart from the DNS workers, so a
// slow or hostile HTTP client can never delay a DNS answer.
//
// Per connection: TLS handshake (certificate picked by SNI) within handshake_timeout;
// the first request header within request_timeout of the handshake; later requests on a
// kept-alive connection must start within idle_timeout and their header must complete
// within request_timeout of its first byte (slowloris); each reply is written within
// request_timeout. Connections beyond max_connections (or max_connections_per_client)
// are closed at once; requests beyond the per-client rate get 429.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "cert_store.h"
#include "client_limits.h"
#include "http_routing.h"
#include "settings.h"

namespace stsd::policyhost {

class PolicyHostServer {
 public:
  // `domains` (may be empty) lists the policy domains, so that the log can name those
  // whose mta-sts host has no certificate after each certificate load.
  PolicyHostServer(PolicyHostSettings settings, PolicyLookup lookup, std::shared_ptr<CertificateStore> certificates,
                   std::function<std::vector<std::string>()> domains = {});
  ~PolicyHostServer();
  PolicyHostServer(const PolicyHostServer&) = delete;
  PolicyHostServer& operator=(const PolicyHostServer&) = delete;

  // Loads the certificates, binds every listen address (std::runtime_error naming the
  // address when one cannot be bound) and starts the threads.
  void start();
  // Stops accepting, lets requests in flight finish (1 s at most), closes the rest.
  void stop();
  // New settings from a config reload. Binds new listen addresses before dropping the
  // old ones (std::runtime_error and no change when that fails). `threads` changes
  // apply at the next start.
  void reconfigure(PolicyHostSettings settings);

  // The bound addresses (port 0 in the config becomes the real port).
  std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;
  // Reloads certificates now instead of at the next poll (tests, SIGHUP).
  void refresh_certificates_now();

  struct Shared;   // state the connections share; defined in server.cpp

 private:
  void poll_certificates();
  std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> bind(const PolicyHostSettings& settings);
  void accept(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);

  std::shared_ptr<Shared> shared_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  mutable std::mutex acceptors_mutex_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;

  std::thread poller_;
  std::mutex poll_mutex_;
  std::condition_variable poll_wakeup_;
  bool poll_stop_ = false;
  bool poll_now_ = false;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace stsd::policyhost
