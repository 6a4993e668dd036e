#include "http/server.h"

#include "logging.h"

namespace stsd::http {

Server::Server(ServerSettings settings, Hooks hooks, TlsSettings tls)
    : settings_(std::move(settings)),
      io_(std::make_unique<boost::asio::io_context>(static_cast<int>(std::max(1u, settings_.threads)))),
      limits_(std::make_shared<ConnectionLimits>(settings_.limits)),
      context_(std::make_shared<ConnectionContext>(settings_.name, settings_.connection, std::move(hooks), limits_,
                                                   std::move(tls))),
      listeners_(std::make_unique<ListenerSet>(*io_, settings_.name, limits_,
                                               [context = context_](ListenerSet::Accepted accepted) {
                                                 ConnectionContext::serve(context, std::move(accepted));
                                               },
                                               context_->rendered_busy_reply())) {}

Server::~Server() {
  stop();
  // Acceptors and suspended connections go before the io_context they use.
  listeners_.reset();
  work_.reset();
  io_.reset();
}

Server::Prepared Server::prepare(const std::vector<ListenAddress>& addresses) { return listeners_->prepare(addresses); }

void Server::listen(Prepared prepared) {
  listeners_->commit(std::move(prepared));
  if (!threads_.empty() || stopped_) return;
  work_.emplace(io_->get_executor());
  for (unsigned i = 0; i < std::max(1u, settings_.threads); ++i) threads_.emplace_back([this] { run_thread(); });
}

void Server::run_thread() {
  for (;;) {
    try {
      io_->run();
      return;
    } catch (const std::exception& error) {
      // One connection must never take the server down with it.
      log::error(settings_.name + ": unexpected error in a connection: " + error.what());
    }
  }
}

void Server::update(const ServerSettings& settings) {
  limits_->update(settings.limits);
  context_->update(settings.connection);
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  listeners_->close();
  context_->begin_stop();
  if (!threads_.empty()) {
    const auto deadline = std::chrono::steady_clock::now() + settings_.stop_grace;
    while (context_->open_connections() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  work_.reset();
  io_->stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace stsd::http
