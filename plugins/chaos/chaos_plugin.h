#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"
#include "plugin.h"
#include "registry.h"

namespace stsd::chaos_plugin {

// The server's identity in class CH, as BIND started it and RFC 4892 §2 describes:
// version.bind and version.server give the version, id.server and hostname.bind the
// server's name. Other CH names are passed on.
class ChaosPlugin final : public Plugin {
 public:
  ChaosPlugin(std::string version, std::string id);
  std::string_view name() const override { return "chaos"; }
  void serve(Query& query, Next next) const override;

  const std::string& version() const { return version_; }
  const std::string& id() const { return id_; }

 private:
  std::string version_;
  std::string id_;
  std::vector<uint8_t> version_rdata_;
  std::vector<uint8_t> id_rdata_;
  dns::Name version_bind_, version_server_, id_server_, hostname_bind_;
};

// `chaos: {}`, `chaos: "stsd 0.1"` (the version) or `chaos: { version: ..., id: ... }`.
std::unique_ptr<Plugin> make_chaos_plugin(PluginSetup& setup);

// "stsd <version>" and the host name: the defaults.
std::string default_version();
std::string default_id();

}  // namespace stsd::chaos_plugin

void stsd_register_chaos(stsd::Registry& registry);
