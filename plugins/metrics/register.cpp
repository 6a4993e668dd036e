// Registers the `metrics` chain plugin (per server block DNS counters) and the
// `metrics:` top-level service (the /metrics HTTP endpoint).
#include "dns_metrics.h"
#include "exporter.h"
#include "registry.h"

void stsd_register_metrics(stsd::Registry& registry) {
  registry.add_plugin("metrics", stsd::metrics_plugin::make_metrics_plugin);
  registry.add_service("metrics",
                       [](const stsd::ConfigNode* section, stsd::Environment& env) -> std::unique_ptr<stsd::Service> {
                         if (!section) return nullptr;  // no endpoint; the chain plugin's counters stay internal
                         auto settings = stsd::metrics_plugin::parse_exporter_settings(*section);
                         return std::make_unique<stsd::metrics_plugin::MetricsService>(std::move(settings), env);
                       });
}
