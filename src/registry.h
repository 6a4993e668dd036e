#pragma once
// Registration of plugins (members of a server block's chain) and services (owners of
// a top-level config key, e.g. an admin API or a background prober). Each plugin folder
// defines `void stsd_register_<name>(stsd::Registry&)`; the generated list in
// plugins/CMakeLists.txt calls them in chain order.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "environment.h"
#include "pending_load.h"
#include "plugin.h"

namespace stsd {

struct PluginSetup {
  Environment& env;
  const ConfigNode& config;                // the plugin's own section under `plugins:`
  const std::vector<std::string>& listen;  // the server block's listen addresses
  size_t server_index;                     // position of the block in `servers:`
  PendingLoad& load;                       // the load this chain belongs to
};

// Validates config and builds the plugin; throws ConfigError (via ConfigNode::fail).
// It must change nothing outside the plugin it returns: the load may still be abandoned
// (another block or a later section is bad). What the plugin needs to change elsewhere
// when its chain goes live (e.g. tell a shared object its settings) goes in
// `setup.load.on_commit`.
using PluginFactory = std::function<std::unique_ptr<Plugin>(PluginSetup&)>;

// A long-lived part of the process outside the query path.
class Service {
 public:
  virtual ~Service() = default;
  // Called once after every chain was built and the DNS listeners were bound (or, for a
  // service that starts before the chains, once the config was read). Binding sockets,
  // starting threads.
  virtual void start() = 0;
  // True: start() runs before the chains are built and the store is opened, so that the
  // service answers while those take their time (seconds for millions of domains). For
  // what must be up from the first moment (health and readiness probes); such a service
  // must need neither the store nor any chain.
  virtual bool starts_before_chains() const { return false; }
  // Graceful stop; called once at shutdown, before the store is closed.
  virtual void stop() = 0;
  // Phase one of a reload (SIGHUP): validate the new section (nullptr when the key is
  // gone) and make ready what it needs, changing nothing that clients or other parts can
  // observe; then register, with `load.on_commit`, the action that switches to it. Throw
  // ConfigError to refuse: the whole reload is abandoned and no action runs, so every
  // service and chain stays on the old config. Default: nothing changes on reload.
  virtual void prepare_reload(const ConfigNode* section, PendingLoad& load) {}
};

// Called for every registered top-level key, with its section or nullptr when the
// config does not have it. Validates the section (throw ConfigError) and returns the
// service, or nullptr when there is nothing to run. Must not start anything, nor change
// anything outside the object it returns: the core starts it only when the whole load
// prepared. In check-only mode the service is built and discarded.
using ServiceFactory = std::function<std::unique_ptr<Service>(const ConfigNode* section, Environment& env)>;

class Registry {
 public:
  struct PluginEntry {
    std::string name;
    PluginFactory factory;
  };
  struct ServiceEntry {
    std::string key;
    ServiceFactory factory;
  };

  void add_plugin(std::string name, PluginFactory factory);
  void add_service(std::string top_level_key, ServiceFactory factory);

  const std::vector<PluginEntry>& plugins() const { return plugins_; }  // chain order
  const std::vector<ServiceEntry>& services() const { return services_; }
  const PluginEntry* find_plugin(std::string_view name) const;
  const ServiceEntry* find_service(std::string_view key) const;

 private:
  std::vector<PluginEntry> plugins_;
  std::vector<ServiceEntry> services_;
};

// Defined in the generated plugins/plugin_list.cpp.
void register_all_plugins(Registry& registry);

}  // namespace stsd
