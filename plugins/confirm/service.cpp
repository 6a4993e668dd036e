#include "service.h"

#include "admin_extensions.h"
#include "logging.h"

namespace stsd::confirm {

ConfirmService::ConfirmService(ConfirmSettings settings, Environment& env)
    : env_(env), engine_(std::make_shared<ConfirmEngine>(std::move(settings), env.clock_ptr())) {}

void ConfirmService::start() {
  auto state = store::PolicyStore::open(env_);
  const bool answers_checks = publish_api();
  engine_->start(std::move(state));
  register_metrics();
  if (answers_checks) register_admin_extensions(env_, engine_);
}

// Shares the engine as the process's ConfirmApi; false when another confirmer already is.
bool ConfirmService::publish_api() {
  auto registered = env_.shared<ConfirmApi>(kConfirmApiKey, [this] { return std::shared_ptr<ConfirmApi>(engine_); });
  if (registered.get() == static_cast<ConfirmApi*>(engine_.get())) return true;
  log::warn("confirm: another confirmer is already registered; this one probes but does not answer checks");
  return false;
}

void ConfirmService::register_metrics() {
  std::shared_ptr<ConfirmEngine> engine = engine_;
  metrics_ = metrics::metrics_registry(env_)->add("confirm", [engine](metrics::MetricsWriter& writer) {
    engine->collect_metrics(writer);
  });
}

void ConfirmService::stop() {
  metrics_.reset();
  engine_->stop();
}

void ConfirmService::prepare_reload(const ConfigNode* section, PendingLoad& load) {
  std::optional<ConfirmSettings> settings;
  if (section) settings = parse_settings(section);
  load.on_commit([engine = engine_, settings = std::move(settings)]() mutable { engine->reload(std::move(settings)); });
}

}  // namespace stsd::confirm
