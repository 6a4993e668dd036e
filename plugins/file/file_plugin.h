#pragma once
#include <memory>
#include <string_view>
#include <vector>

#include "plugin.h"
#include "registry.h"
#include "zone.h"
#include "zone/registration.h"

namespace stsd::file {

// Serves the zones it was built with; each chain build (start-up, SIGHUP) re-reads the
// files, so a reload publishes new zones with the new chain.
class FilePlugin final : public Plugin {
 public:
  explicit FilePlugin(std::vector<std::shared_ptr<const Zone>> zones);
  std::string_view name() const override { return "file"; }
  void serve(Query& query, Next next) const override;
  const std::vector<std::shared_ptr<const Zone>>& zones() const { return zones_; }
  // Where the factory's commit action puts the zone-source registration (lives as long
  // as this plugin).
  std::weak_ptr<std::shared_ptr<void>> source_registration_slot() const { return source_registration_; }

 private:
  std::vector<std::shared_ptr<const Zone>> zones_;
  zone::RegistrationSlot source_registration_ = zone::make_registration_slot();
};

// Validates the `file:` section (a list of {zone, path, include_folders, max_bytes})
// and loads every zone; a bad
// zone file fails the whole config with "<config>:<line>: ...path: <zone file>:<line>: why".
std::unique_ptr<Plugin> make_file_plugin(PluginSetup& setup);

}  // namespace stsd::file

void stsd_register_file(stsd::Registry& registry);
