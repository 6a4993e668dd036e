// Registration of the `transfer` plugin: one plugin per server block that has the
// section, one tracker (journal, catalog, NOTIFY) for the process.
#include <optional>
#include <string>

#include "environment.h"
#include "registry.h"
#include "store/policy_store.h"
#include "tracker.h"
#include "transfer_config.h"
#include "transfer_plugin.h"

namespace stsd::transfer {

namespace {

// The tracker is one per process, so every block must give it the same settings.
struct TrackerAgreement {
  std::optional<ConfigNode> first;
};

std::unique_ptr<Plugin> make_transfer_plugin(PluginSetup& setup) {
  auto settings = std::make_shared<const TransferSettings>(parse_transfer_settings(setup.config));
  auto& agreement = setup.load.scratch<TrackerAgreement>();
  if (agreement.first) {
    const std::string conflict = tracker_settings_conflict(*agreement.first, setup.config);
    if (!conflict.empty())
      setup.config.fail("`" + conflict +
                        "` must be the same in every server block with `transfer:` (one journal, catalog and NOTIFY "
                        "sender serve the process)");
  } else {
    agreement.first = setup.config;
  }
  if (setup.env.check_only()) return std::make_unique<TransferPlugin>(std::move(settings), nullptr);
  // The catalog's serial survives restarts through the store, when there is one.
  std::shared_ptr<store::PolicyStore> store;
  if (settings->tracker.catalog && setup.env.storage_path()) {
    try {
      store = store::PolicyStore::open(setup.env);
    } catch (const std::exception& e) {
      setup.config.fail(std::string("cannot open the policy store (it keeps the catalog serial): ") + e.what());
    }
  }
  auto tracker = Tracker::of(setup.env);
  setup.load.on_commit([tracker, tracker_settings = settings->tracker, store, &load = setup.load] {
    tracker->apply(tracker_settings, store);
    // The plugins after this one in the chain add their zone::Source in their own commit
    // actions: the first poll waits for all of them (PendingLoad runs this one last).
    load.on_commit([tracker] { tracker->begin_polling(); });
  });
  return std::make_unique<TransferPlugin>(std::move(settings), std::move(tracker));
}

}  // namespace
}  // namespace stsd::transfer

void stsd_register_transfer(stsd::Registry& registry) {
  registry.add_plugin("transfer", stsd::transfer::make_transfer_plugin);
}
