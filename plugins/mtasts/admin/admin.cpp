#include "admin.h"

#include "admin_config.h"
#include "api.h"
#include "environment.h"
#include "http_server.h"
#include "logging.h"
#include "registry.h"

namespace stsd::mtasts {
namespace {

class AdminService final : public Service {
 public:
  AdminService(Environment& env, AdminConfig config) : env_(env), config_(std::move(config)) {}

  void start() override {
    if (!config_.enabled) {
      log::info("admin: disabled (admin.enabled: false); the store cannot be changed while stsd runs");
      return;
    }
    launch(config_);
  }

  void stop() override {
    if (server_) server_->stop();
    server_.reset();
  }

  void prepare_reload(const ConfigNode* section, PendingLoad& load) override {
    AdminConfig next = parse_admin_config(section, env_.storage_path(), true);
    if (next == config_) return;
    load.on_commit([this, next = std::move(next)]() mutable {
      if (!next.enabled) {
        stop();
        log::info("admin: disabled by the new config");
      } else if (!server_) {
        launch(next);
      } else {
        server_->reconfigure(next);
        announce(next);
      }
      config_ = std::move(next);
    });
  }

 private:
  void launch(const AdminConfig& config) {
    auto state = store::PolicyStore::open(env_);
    auto api = std::make_shared<AdminApi>(state, store::AdminExtensions::get(env_));
    auto server = std::make_unique<AdminHttpServer>(config, [api](const ApiRequest& request) {
      return api->handle(request);
    });
    server->start();
    server_ = std::move(server);
    announce(config);
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
  std::unique_ptr<AdminHttpServer> server_;
};

}  // namespace

void register_admin(Registry& registry) {
  registry.add_service("admin", [](const ConfigNode* section, Environment& env) -> std::unique_ptr<Service> {
    AdminConfig config = parse_admin_config(section, env.storage_path(), true);
    // Without storage there is no store to administer; a later reload cannot add
    // storage (the core opens the store once), so there is nothing to keep.
    if (!env.storage_path()) return nullptr;
    return std::make_unique<AdminService>(env, std::move(config));
  });
}

}  // namespace stsd::mtasts
