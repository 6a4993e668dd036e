// Registers the `confirm:` top-level service (issue 4): the HTTPS prober that confirms
// staged MTA-STS policies, watches for drift and checks MX coverage.
#include "registry.h"
#include "service.h"

void stsd_register_confirm(stsd::Registry& registry) {
  registry.add_service("confirm",
                       [](const stsd::ConfigNode* section, stsd::Environment& env) -> std::unique_ptr<stsd::Service> {
                         if (!section) return nullptr;  // not configured: versions are confirmed by hand only
                         auto settings = stsd::confirm::parse_settings(section);
                         if (!env.storage_path())
                           section->fail("the confirmer needs the policy store: add a top-level `storage:` folder");
                         return std::make_unique<stsd::confirm::ConfirmService>(std::move(settings), env);
                       });
}
