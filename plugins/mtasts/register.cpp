// Registration of the `mtasts` DNS plugin, the `policies:` folder service and (when its
// folder is built) the `admin:` API service.
#include <mutex>
#include <string>

#include "environment.h"
#include "mtasts_plugin.h"
#include "registry.h"
#include "store/policy_store.h"
#ifdef STSD_MTASTS_HAS_ADMIN
#include "admin/admin.h"
#endif

namespace stsd::mtasts {

void register_policies_service(Registry& registry);   // policies_sync.cpp

namespace {

// Every server block must rotate ids on the same schedule, or two listeners of one store
// would publish different ids. Factories run in server-block order on each (re)load; a
// block index that does not increase marks a new load.
struct RotationAgreement {
  std::mutex mutex;
  size_t last_index = 0;
  bool any = false;
  std::chrono::seconds rotation{0};
};

std::unique_ptr<Plugin> make_mtasts_plugin(PluginSetup& setup) {
  auto config = parse_mtasts_config(setup.config);
  auto agreement =
      setup.env.shared<RotationAgreement>("mtasts.rotation_agreement", [] { return std::make_shared<RotationAgreement>(); });
  {
    std::lock_guard lock(agreement->mutex);
    if (agreement->any && setup.server_index > agreement->last_index && agreement->rotation != config.rotation)
      setup.config.fail("rotation must be the same in every server block (another block uses " +
                        std::to_string(agreement->rotation.count()) + "s)");
    agreement->any = true;
    agreement->last_index = setup.server_index;
    agreement->rotation = config.rotation;
  }
  if (!setup.env.storage_path())
    setup.config.fail("mtasts needs the policy store: set the top-level `storage:` folder");
  if (setup.env.check_only()) return std::make_unique<MtastsPlugin>(std::move(config), nullptr, setup.env.clock_ptr());
  std::shared_ptr<store::PolicyStore> state;
  try {
    state = store::PolicyStore::open(setup.env);
  } catch (const std::exception& e) {
    setup.config.fail(std::string("cannot open the policy store: ") + e.what());
  }
  state->set_rotation(config.rotation);
  if (config.service_zone)
    state->require_name_room(name_room_needed(config),
                             "_smtp._tls.<domain>." + config.service_zone->to_text() + " must fit in 255 octets");
  return std::make_unique<MtastsPlugin>(std::move(config), std::move(state), setup.env.clock_ptr());
}

}  // namespace
}  // namespace stsd::mtasts

void stsd_register_mtasts(stsd::Registry& registry) {
  registry.add_plugin("mtasts", stsd::mtasts::make_mtasts_plugin);
  stsd::mtasts::register_policies_service(registry);
#ifdef STSD_MTASTS_HAS_ADMIN
  stsd::mtasts::register_admin(registry);
#endif
}
