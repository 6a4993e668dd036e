#pragma once
// Helpers for the file plugin's tests: hand-made query packets run through a chain
// (the plugin under test, then a sentinel that notes whether the query was passed on),
// and the reply decoded by ldns into presentation strings.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ldns/ldns.h>

#include "config.h"
#include "dns/message.h"
#include "environment.h"
#include "plugin.h"
#include "registry.h"

namespace stsd::test {

struct QuerySpec {
  std::string qname;
  uint16_t qtype = 1;
  uint16_t qclass = 1;
  dns::Transport transport = dns::Transport::Udp;
  std::optional<uint16_t> edns_size;   // adds an OPT record when set
};

// The wire form of a query with RD set and ID 0x1234.
std::vector<uint8_t> make_query_packet(const QuerySpec& spec);

// A decoded reply in the terms the tables use.
struct Reply {
  std::string rcode;        // "NOERROR", "NXDOMAIN", ...
  std::string flags;        // "qr aa rd", space-separated, in header order
  std::vector<std::string> answer, authority, additional;  // "owner ttl class type rdata"
  bool passed_on = false;   // the plugin called next
  size_t size = 0;
};

ConfigNode yaml_node(const std::string& text, const std::filesystem::path& file, const std::string& key_path);

// Runs queries through [plugin, sentinel].
class ChainRunner {
 public:
  explicit ChainRunner(std::unique_ptr<Plugin> plugin);
  Reply run(const QuerySpec& spec);

 private:
  std::unique_ptr<bool> passed_ = std::make_unique<bool>(false);
  std::unique_ptr<Chain> chain_;
};

// The PluginSetup pieces a factory needs, with no storage.
struct SetupFixture {
  std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
  Environment env{std::filesystem::temp_directory_path(), std::nullopt, clock, true};
  std::vector<std::string> listen{"127.0.0.1:5300"};
  PendingLoad load;
  PluginSetup setup(const ConfigNode& node) { return PluginSetup{env, node, listen, 0, load}; }
};

}  // namespace stsd::test
