#pragma once
// The Service registered for the top-level key `confirm` (register.cpp): owns the
// confirmer engine and wires it into the process (the ConfirmApi, metrics, the admin API).
#include <memory>

#include "confirmer.h"
#include "metrics.h"
#include "registry.h"
#include "settings.h"

namespace stsd::confirm {

class ConfirmService final : public Service {
 public:
  ConfirmService(ConfirmSettings settings, Environment& env);
  void start() override;
  void stop() override;
  void prepare_reload(const ConfigNode* section, PendingLoad& load) override;

 private:
  bool publish_api();
  void register_metrics();

  Environment& env_;
  std::shared_ptr<ConfirmEngine> engine_;
  metrics::MetricsRegistry::Registration metrics_;
};

}  // namespace stsd::confirm
