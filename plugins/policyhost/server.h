#pragma once
// The HTTPS policy host: serves https://mta-sts.<domain>/.well-known/mta-sts.txt
// (RFC 8461 §3.3) on an http::Server (src/http/) with threads of its own, apart from the
// DNS workers, so a slow or hostile HTTP client can never delay a DNS answer.
//
// Per connection: TLS handshake (certificate picked by SNI) within handshake_timeout;
// the first request header within request_timeout of the handshake; later requests on a
// kept-alive connection must start within idle_timeout and their header must complete
// within request_timeout of its first byte (slowloris); each reply is written within
// request_timeout. Until its handshake is done and its first request header read, a
// connection is pending (max_pending connections, max_pending_per_client from one client;
// a full pool closes its oldest); a first request past max_connections (or
// max_connections_per_client) gets 503; requests beyond the per-client rate get 429.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "cert_store.h"
#include "http/server.h"
#include "http_routing.h"
#include "settings.h"

namespace stsd::policyhost {

class PolicyHostServer {
 public:
  using Prepared = http::Server::Prepared;

  // `domains` (may be empty) lists the policy domains, so that the log can name those
  // whose mta-sts host has no certificate after each certificate load.
  PolicyHostServer(PolicyHostSettings settings, PolicyLookup lookup, std::shared_ptr<CertificateStore> certificates,
                   std::function<std::vector<std::string>()> domains = {});
  ~PolicyHostServer();
  PolicyHostServer(const PolicyHostServer&) = delete;
  PolicyHostServer& operator=(const PolicyHostServer&) = delete;

  // Loads the certificates, binds every listen address (http::BindError naming the
  // address when one cannot be bound) and starts the threads.
  void start() { start(prepare(settings())); }
  // The same with addresses bound by `prepare`.
  void start(Prepared prepared);
  // Stops accepting, lets requests in flight finish (1 s at most), closes the rest.
  void stop();
  // Phase one of a reload: binds the addresses `settings` adds (http::BindError naming
  // the address; nothing changed then).
  Prepared prepare(const PolicyHostSettings& settings);
  // Phase two: the new settings apply, the new addresses serve and the old ones close.
  // `threads` changes apply at the next start.
  void commit(PolicyHostSettings settings, Prepared prepared);

  PolicyHostSettings settings() const;
  // The bound addresses (port 0 in the config becomes the real port).
  std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;
  // Reloads certificates now instead of at the next poll (tests, SIGHUP).
  void refresh_certificates_now();

  struct Shared;  // what the handler and the poller read; defined in server.cpp

 private:
  void poll_certificates();

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<http::Server> http_;
  std::thread poller_;
  std::mutex poll_mutex_;
  std::condition_variable poll_wakeup_;
  bool poll_stop_ = false;
  bool poll_now_ = false;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace stsd::policyhost
