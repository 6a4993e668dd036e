#include "service.h"

#include <chrono>
#include <memory>

#include "environment.h"
#include "http/server.h"
#include "logging.h"
#include "status_page.h"
#include "status_page_config.h"

namespace stsd::admin::status {

namespace {

// The page is for a few people and a monitor: small caps, short timeouts, no bodies.
constexpr size_t kMaxConnections = 32;
constexpr size_t kMaxHeaderBytes = 8192;
constexpr std::chrono::seconds kRequestTimeout{10};

std::vector<http::ListenAddress> addresses_of(const StatusPageConfig& config) {
  std::vector<http::ListenAddress> addresses;
  for (const auto& endpoint : config.endpoints) addresses.push_back(http::ListenAddress::tcp(endpoint));
  return addresses;
}

std::shared_ptr<http::Server> make_server(std::shared_ptr<const StatusPage> page) {
  http::ServerSettings settings;
  settings.name = "status";
  settings.threads = 2;  // a long search does not hold up the next request
  settings.connection.server_header = "stsd-status";
  settings.connection.limits = {.max_header_bytes = kMaxHeaderBytes, .max_body_bytes = 0};
  settings.connection.timeouts = {.handshake = kRequestTimeout,
                                  .first_request = kRequestTimeout,
                                  .idle = kRequestTimeout,
                                  .request = kRequestTimeout,
                                  .write = kRequestTimeout};
  settings.limits.max_connections = kMaxConnections;
  settings.limits.max_pending = kMaxConnections;
  settings.stop_grace = std::chrono::milliseconds(0);  // a page is cheap to load again
  http::Hooks hooks;
  hooks.handler = [page](const http::Request& request) { return page->handle(request); };
  hooks.check_header = [page](const http::Request& request) { return page->check_token(request); };
  return std::make_shared<http::Server>(std::move(settings), std::move(hooks));
}

class StatusPageService final : public Service {
 public:
  StatusPageService(Environment& env, StatusPageConfig config) : env_(env), config_(std::move(config)) {}
  ~StatusPageService() override { stop(); }

  void start() override {
    page_ = std::make_shared<StatusPage>(store::PolicyStore::open(env_), store::AdminExtensions::get(env_));
    page_->set_token(config_.token);
    auto server = make_server(page_);
    server->start(addresses_of(config_));
    server_ = std::move(server);
    announce();
  }

  void stop() override {
    if (server_) server_->stop();
    server_.reset();
  }

  // All or nothing, as the metrics endpoint: phase one binds the new addresses and reads
  // the token file (an address in use or a bad token refuses the whole reload, and the
  // old page keeps serving); the commit switches both.
  void prepare_reload(const ConfigNode* section, PendingLoad& load) override {
    if (!section) {
      load.on_commit([this] {
        if (server_) log::info("status: section removed; the status page is no longer served");
        stop();
      });
      return;
    }
    StatusPageConfig next = parse_status_page_config(*section, env_.storage_path().has_value(), true);
    if (server_ && next == config_) return;
    std::shared_ptr<StatusPage> page = page_;
    if (!page)
      page = std::make_shared<StatusPage>(store::PolicyStore::open(env_), store::AdminExtensions::get(env_));
    std::shared_ptr<http::Server> server = server_ ? server_ : make_server(page);
    std::shared_ptr<http::Server::Prepared> prepared;
    try {
      prepared = std::make_shared<http::Server::Prepared>(server->prepare(addresses_of(next)));
    } catch (const http::BindError& error) {
      if (auto listen = section->get("listen")) listen->fail(error.what());
      section->fail(error.what());
    }
    load.on_commit([this, page, server, prepared, next = std::move(next)]() mutable {
      page->set_token(next.token);
      server->listen(std::move(*prepared));
      page_ = page;
      server_ = server;
      config_ = std::move(next);
      announce();
    });
  }

 private:
  void announce() const {
    std::string where;
    for (const auto& text : config_.listen) where += (where.empty() ? "http://" : ", http://") + text + "/";
    log::info("status: page on " + where + (config_.token.empty() ? "" : " (token required)"));
  }

  Environment& env_;
  StatusPageConfig config_;
  std::shared_ptr<StatusPage> page_;
  std::shared_ptr<http::Server> server_;
};

}  // namespace

void register_status_page(Registry& registry) {
  registry.add_service("status", [](const ConfigNode* section, Environment& env) -> std::unique_ptr<Service> {
    if (!section) return nullptr;  // the page is served only when asked for
    auto config = parse_status_page_config(*section, env.storage_path().has_value(), true);
    return std::make_unique<StatusPageService>(env, std::move(config));
  });
}

}  // namespace stsd::admin::status
