#pragma once
// Shared by the metrics plugin's tests: a stand-in for the rest of the chain that answers
// by the query name (packets, runner and config nodes: tests/support/plugin_test_support.h).
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/types.h"
#include "dns/writer.h"
#include "plugin.h"

namespace stsd::metrics_test {

// The rest of the chain: "nx.test." NXDOMAIN, "pass.test." passes (REFUSED by the core),
// "throw.test." throws, "drop.test." drops an NXDOMAIN (as rrl does), anything else
// NOERROR.
class Responder final : public Plugin {
 public:
  std::string_view name() const override { return "responder"; }
  void serve(Query& query, Next next) const override {
    const auto& name = query.request.question.name;
    if (name == nx_) return query.response.start(dns::Rcode::NXDomain, true);
    if (name == pass_) return next(query);
    if (name == throws_) throw std::runtime_error("a plugin failed");
    if (name == drop_) {
      query.response.start(dns::Rcode::NXDomain, true);
      return query.response.drop();
    }
    query.response.start(dns::Rcode::NoError, true);
  }

 private:
  dns::Name nx_ = *dns::Name::from_text("nx.test.");
  dns::Name pass_ = *dns::Name::from_text("pass.test.");
  dns::Name throws_ = *dns::Name::from_text("throw.test.");
  dns::Name drop_ = *dns::Name::from_text("drop.test.");
};

}  // namespace stsd::metrics_test
