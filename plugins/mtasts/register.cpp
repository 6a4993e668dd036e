// Registration of the `mtasts` DNS plugin and the `policies:` folder service.
#include <optional>
#include <string>
#include <vector>

#include "environment.h"
#include "mtasts_plugin.h"
#include "registry.h"
#include "store/clock_watch.h"
#include "store/policy_store.h"
#include "store/retirement_sweeper.h"
#include "zone/registration.h"
#include "zone_records.h"
#include "zone_source.h"

namespace stsd::mtasts {

void register_policies_service(Registry& registry);  // policies_sync.cpp

namespace {

// Every server block must rotate ids on the same schedule, or two listeners of one store
// would publish different ids; and point senders' reports at the same intake, or a
// domain's `_smtp._tls` record would depend on the listener asked. Checked across the
// blocks of one load.
struct BlockAgreement {
  std::optional<std::chrono::seconds> rotation;
  std::optional<std::vector<std::string>> tlsrpt_rua_default;
};

std::unique_ptr<Plugin> make_mtasts_plugin(PluginSetup& setup) {
  auto config = parse_mtasts_config(setup.config);
  auto& agreement = setup.load.scratch<BlockAgreement>();
  if (agreement.rotation && *agreement.rotation != config.rotation)
    setup.config.fail("rotation must be the same in every server block (another block uses " +
                      std::to_string(agreement.rotation->count()) + "s)");
  agreement.rotation = config.rotation;
  if (agreement.tlsrpt_rua_default && *agreement.tlsrpt_rua_default != config.tlsrpt_rua_default)
    setup.config.fail("tlsrpt_rua_default must be the same in every server block");
  agreement.tlsrpt_rua_default = config.tlsrpt_rua_default;
  if (!setup.env.storage_path())
    setup.config.fail("mtasts needs the policy store: set the top-level `storage:` folder");
  if (setup.env.check_only()) return std::make_unique<MtastsPlugin>(std::move(config), nullptr);
  std::shared_ptr<store::PolicyStore> state;
  try {
    state = store::PolicyStore::open(setup.env);
  } catch (const std::exception& e) {
    setup.config.fail(std::string("cannot open the policy store: ") + e.what());
  }
  // The store learns this block's settings only when the load commits: a reload that is
  // rejected later must leave the store as it was.
  setup.load.on_commit([state, rotation = config.rotation] { state->set_rotation(rotation); });
  // Retired domains leave the store while it is served (RFC 8461 §8.3); the first load
  // that commits starts the sweeper, later ones find it running.
  setup.load.on_commit([state, &env = setup.env] { store::RetirementSweeper::start_for(env, state); });
  // Ids and SOA serials never go back when the clock does (store/time_floor.h).
  setup.load.on_commit([state, &env = setup.env] { store::ClockWatch::start_for(env, state); });
  if (config.service_zone)
    setup.load.on_commit([state, room = name_room_needed(config),
                          why = "_smtp._tls.<domain>." + config.service_zone->to_text() + " must fit in 255 octets"] {
      state->require_name_room(room, why);
    });
  const int64_t config_time = prepare_zone_config_time(state, setup.server_index, config, setup.load);
  auto plugin = std::make_unique<MtastsPlugin>(std::move(config), state, config_time);
  zone::add_source_on_commit(setup.env, setup.load, "mtasts#" + std::to_string(setup.server_index),
                             std::make_shared<MtastsZoneSource>(plugin->config(), state, plugin->records()),
                             plugin->source_registration_slot());
  return plugin;
}

}  // namespace
}  // namespace stsd::mtasts

void stsd_register_mtasts(stsd::Registry& registry) {
  registry.add_plugin("mtasts", stsd::mtasts::make_mtasts_plugin);
  stsd::mtasts::register_policies_service(registry);
}
