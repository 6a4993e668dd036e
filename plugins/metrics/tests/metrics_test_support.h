#pragma once
// Shared by the metrics plugin's tests: query packets made by hand, a stand-in for the
// rest of the chain that answers by the query name, and YAML config nodes.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config.h"
#include "dns/message.h"
#include "dns/types.h"
#include "dns/writer.h"
#include "plugin.h"

namespace stsd::metrics_test {

// A query with ID 0x1234, RD set, class IN (RFC 1035 §4.1).
inline std::vector<uint8_t> query_packet(const std::string& qname, uint16_t qtype) {
  std::vector<uint8_t> out = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start < qname.size()) {
    size_t dot = qname.find('.', start);
    if (dot == std::string::npos) dot = qname.size();
    out.push_back(static_cast<uint8_t>(dot - start));
    for (size_t i = start; i < dot; ++i) out.push_back(static_cast<uint8_t>(qname[i]));
    start = dot + 1;
  }
  out.push_back(0);
  out.push_back(static_cast<uint8_t>(qtype >> 8));
  out.push_back(static_cast<uint8_t>(qtype));
  out.push_back(0);
  out.push_back(1);
  return out;
}

// The rest of the chain: "nx.test." NXDOMAIN, "pass.test." passes (REFUSED by the core),
// "throw.test." throws, anything else NOERROR.
class Responder final : public Plugin {
 public:
  std::string_view name() const override { return "responder"; }
  void serve(Query& query, Next next) const override {
    const auto& name = query.request.question.name;
    if (name == nx_) return query.response.start(dns::Rcode::NXDomain, true);
    if (name == pass_) return next(query);
    if (name == throws_) throw std::runtime_error("a plugin failed");
    query.response.start(dns::Rcode::NoError, true);
  }

 private:
  dns::Name nx_ = *dns::Name::from_text("nx.test.");
  dns::Name pass_ = *dns::Name::from_text("pass.test.");
  dns::Name throws_ = *dns::Name::from_text("throw.test.");
};

inline ConfigNode yaml_node(const std::string& text, const std::string& key_path,
                            const std::string& file = "/etc/stsd/stsd.yaml") {
  return ConfigNode(YAML::Load(text), std::make_shared<const std::filesystem::path>(file), key_path);
}

}  // namespace stsd::metrics_test
