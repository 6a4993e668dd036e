#include "service.h"

#include "admin_extensions.h"
#include "logging.h"

namespace stsd::confirm {

namespace {
// The process's record of how far secondaries lag (filled by the transfer plugin when
// there is one; whoever comes first creates it).
std::shared_ptr<const zone::TransferLag> transfer_lag_of(Environment& env) {
  return env.shared<zone::TransferLag>(zone::TransferLag::kSharedKey,
                                       [] { return std::make_shared<zone::TransferLag>(); });
}
}  // namespace

ConfirmService::ConfirmService(ConfirmSettings settings, Environment& env)
    : env_(env),
      engine_(std::make_shared<ConfirmEngine>(std::move(settings), env.clock_ptr(), transfer_lag_of(env))) {}

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
  metrics_ = metrics::metrics_registry(env_)->add(
      "confirm", [engine](metrics::MetricsWriter& writer) { engine->collect_metrics(writer); });
}

void ConfirmService::stop() {
  metrics_.reset();
  engine_->stop();
}

void ConfirmService::prepare_reload(const ConfigNode* section, PendingLoad& load) {
  std::shared_ptr<const ConfirmEngine::Runtime> runtime;
  if (section) {
    try {
      runtime = ConfirmEngine::prepare(parse_settings(section));
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {
      section->fail(e.what());
    }
  }
  load.on_commit([engine = engine_, runtime = std::move(runtime)] { engine->reload(runtime); });
}

}  // namespace stsd::confirm
