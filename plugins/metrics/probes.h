#pragma once
// The probes beside /metrics on the `metrics:` listener, for load balancers, Kubernetes
// and monitoring:
//  - GET /healthz: 200 "ok" whenever the process answers at all (liveness);
//  - GET /readyz: 200 "ready" once every readiness gate (src/readiness.h) is open, 503
//    "not ready" naming the closed gates otherwise, and while stopping (readiness).
// Both list each gate with its state below the first line, so one look says what is
// awaited. The same states are metrics: stsd_ready and stsd_readiness_gate_open{gate}.
#include <memory>

#include "http/message.h"
#include "metrics.h"
#include "readiness.h"

namespace stsd::metrics_plugin {

http::Reply health_reply();
http::Reply readiness_reply(const Readiness& readiness);

// stsd_ready (1 or 0) and stsd_readiness_gate_open{gate} (1 or 0; a name shared by two
// gates is open only when both are).
metrics::MetricsRegistry::Registration register_readiness_metrics(metrics::MetricsRegistry& registry,
                                                                  std::shared_ptr<const Readiness> readiness);

}  // namespace stsd::metrics_plugin
