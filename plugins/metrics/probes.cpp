#include "probes.h"

#include <map>
#include <string>

namespace stsd::metrics_plugin {
namespace {

http::Reply text_reply(unsigned status, std::string body) {
  http::Reply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  // A probe's answer is about this moment; a cache in between would answer for another.
  reply.headers.emplace_back("Cache-Control", "no-store");
  return reply;
}

}  // namespace

http::Reply health_reply() { return text_reply(200, "ok\n"); }

http::Reply readiness_reply(const Readiness& readiness) {
  const bool ready = readiness.ready();
  std::string body;
  if (ready) {
    body = "ready\n";
  } else if (readiness.stopping()) {
    body = "not ready: stopping\n";
  } else {
    std::string closed;
    for (const auto& name : readiness.closed_gates()) closed += (closed.empty() ? "" : ", ") + name;
    body = "not ready: waiting for " + closed + "\n";
  }
  for (const auto& gate : readiness.gates()) body += (gate.open ? "open " : "closed ") + gate.name + "\n";
  return text_reply(ready ? 200 : 503, std::move(body));
}

metrics::MetricsRegistry::Registration register_readiness_metrics(metrics::MetricsRegistry& registry,
                                                                  std::shared_ptr<const Readiness> readiness) {
  return registry.add("readiness", [readiness](metrics::MetricsWriter& writer) {
    writer.gauge("stsd_ready", "1 when every readiness gate is open and stsd is not stopping (/readyz answers 200).",
                 {}, readiness->ready() ? 1 : 0);
    std::map<std::string, bool> open;
    for (const auto& gate : readiness->gates()) {
      auto [it, added] = open.emplace(gate.name, gate.open);
      if (!added) it->second = it->second && gate.open;
    }
    for (const auto& [name, is_open] : open)
      writer.gauge("stsd_readiness_gate_open", "1 when the named readiness gate is open.", {{"gate", name}},
                   is_open ? 1 : 0);
  });
}

}  // namespace stsd::metrics_plugin
