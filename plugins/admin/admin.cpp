#include "admin.h"

#include "admin_config.h"
#include "api.h"
#include "environment.h"
#include "http_server.h"
#include "logging.h"
#include "registry.h"
#include "status/service.h"

namespace stsd::admin {
namespace {

// An http::BindError as a config error naming the key of the address that failed.
[[noreturn]] void fail_bind(const ConfigNode* section, const http::BindError& error) {
  const char* key = error.address.transport == http::Transport::Unix ? "socket" : "listen";
  if (section && !section->is_null()) {
    if (auto node = section->get(key)) node->fail(error.what());
    section->fail(error.what());
  }
  throw ConfigError(std::string("admin: ") + error.what());
}

class AdminService final : public Service {
 public:
  AdminService(Environment& env, AdminConfig config) : env_(env), config_(std::move(config)) {}

  void start() override {
    if (!config_.enabled) {
      log::info("admin: disabled (admin.enabled: false); the store cannot be changed while stsd runs");
      return;
    }
    auto server = make_server();
    server->start(config_);
    server_ = std::move(server);
    announce(config_);
  }

  void stop() override {
    if (server_) server_->stop();
    server_.reset();
  }

  void prepare_reload(const ConfigNode* section, PendingLoad& load) override {
    AdminConfig next = parse_admin_config(section, env_.storage_path(), true);
    if (next == config_) return;
    if (!next.enabled) {
      load.on_commit([this] {
        stop();
        config_ = AdminConfig{};
        log::info("admin: disabled by the new config");
      });
      return;
    }
    // Phase one binds what the new config adds: a socket path another process serves or
    // a TCP port in use refuses the reload, and the old listeners keep serving.
    std::shared_ptr<AdminHttpServer> server = server_ ? server_ : make_server();
    std::shared_ptr<AdminHttpServer::Prepared> prepared;
    try {
      prepared = std::make_shared<AdminHttpServer::Prepared>(server->prepare(next));
    } catch (const http::BindError& error) {
      fail_bind(section, error);
    }
    load.on_commit([this, server, prepared, next = std::move(next)]() mutable {
      server->commit(next, std::move(*prepared));
      server_ = server;
      announce(next);
      config_ = std::move(next);
    });
  }

 private:
  std::shared_ptr<AdminHttpServer> make_server() {
    auto hooks = store::AdminExtensions::get(env_);
    auto api = std::make_shared<AdminApi>(store::PolicyStore::open(env_), hooks);
    return std::make_shared<AdminHttpServer>([api](const ApiRequest& request) { return api->handle(request); },
                                             HttpLimits{},
                                             [hooks](std::string_view media) { return hooks->takes_media_type(media); });
  }

  static void announce(const AdminConfig& config) {
    if (config.listen) {
      log::f(log::Level::Info, "admin: API on unix socket %s and http://%s (bearer token)", config.socket.c_str(),
             config.listen_text.c_str());
    } else {
      log::f(log::Level::Info, "admin: API on unix socket %s", config.socket.c_str());
    }
  }

  Environment& env_;
  AdminConfig config_;
  std::shared_ptr<AdminHttpServer> server_;
};

}  // namespace

}  // namespace stsd::admin

void stsd_register_admin(stsd::Registry& registry) {
  registry.add_service(
      "admin", [](const stsd::ConfigNode* section, stsd::Environment& env) -> std::unique_ptr<stsd::Service> {
        stsd::admin::AdminConfig config = stsd::admin::parse_admin_config(section, env.storage_path(), true);
        // Without storage there is no store to administer; a later reload cannot add
        // storage (the core opens the store once), so there is nothing to keep.
        if (!env.storage_path()) return nullptr;
        return std::make_unique<stsd::admin::AdminService>(env, std::move(config));
      });
  stsd::admin::status::register_status_page(registry);
}
