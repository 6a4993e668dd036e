#pragma once
// What plugin tests share: hand-made query packets, a chain ending in a sentinel that
// notes whether the query was passed on, a runner that serves a query the way a worker
// does (decode, chain, finish) and decodes the reply with ldns into presentation text,
// and the config pieces a plugin factory needs.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config.h"
#include "dns/message.h"
#include "dns/types.h"
#include "environment.h"
#include "plugin.h"
#include "registry.h"

namespace stsd::test {

inline constexpr uint16_t kQueryId = 0x1234;
// The EDNS buffer size resolvers advertise since DNS flag day 2020.
inline constexpr uint16_t kResolverEdns = 1232;

struct QuerySpec {
  std::string qname{};
  uint16_t qtype = dns::rrtype::A;
  uint16_t qclass = dns::rrclass::IN;
  dns::Transport transport = dns::Transport::Udp;
  std::optional<uint16_t> edns_size{};  // adds an OPT record when set
  std::string client = "127.0.0.1";
  uint16_t client_port = 40000;
  std::chrono::microseconds age{0};  // how long before serving the query arrived
  uint32_t ixfr_serial = 1;           // IXFR: the serial of the client's SOA (RFC 1995 §3)
};

// The wire form of a query with ID kQueryId and RD set (RFC 1035 §4.1); an IXFR carries
// the client's SOA in the authority section.
std::vector<uint8_t> query_packet(const QuerySpec& spec);

// Stands at the end of a chain: notes that the plugins before it passed the query on,
// and answers nothing (the core then answers REFUSED).
class Sentinel final : public Plugin {
 public:
  explicit Sentinel(bool& reached) : reached_(reached) {}
  std::string_view name() const override { return "sentinel"; }
  void serve(Query&, Next) const override { reached_ = true; }

 private:
  bool& reached_;
};

// Lends a plugin the test keeps to a chain.
class Borrowed final : public Plugin {
 public:
  explicit Borrowed(Plugin& plugin) : plugin_(plugin) {}
  std::string_view name() const override { return plugin_.name(); }
  void serve(Query& query, Next next) const override { plugin_.serve(query, next); }

 private:
  Plugin& plugin_;
};

// An EDNS option of the reply's OPT record (codes in dns/edns.h).
struct EdnsOption {
  uint16_t code = 0;
  std::vector<uint8_t> data;
};

// A reply in the terms the tables use.
struct Reply {
  bool passed_on = false;  // the chain reached the sentinel
  bool dropped = false;    // a plugin dropped the answer: nothing would be sent
  std::string rcode;       // "NOERROR", "NXDOMAIN", ...
  std::string flags;       // "qr aa rd", in header order
  bool aa = false;
  bool tc = false;
  std::vector<std::string> answer, authority, additional;  // "owner ttl class type rdata"
  std::string soa_serial;                                  // of the first SOA in the answer or authority section
  bool edns = false;                                       // the reply carries OPT
  std::vector<EdnsOption> options;                         // OPT's options, in order
  size_t size = 0;

  // The first option with `code`; null when there is none.
  const EdnsOption* option(uint16_t code) const;
};

// Decodes a response with ldns (a failure to decode fails the test).
Reply decode_reply(std::span<const uint8_t> wire);

// Serves queries through [plugins..., sentinel].
class ChainRunner {
 public:
  explicit ChainRunner(std::unique_ptr<Plugin> plugin);
  explicit ChainRunner(std::vector<std::unique_ptr<Plugin>> plugins);
  Reply run(const QuerySpec& spec);

 private:
  std::unique_ptr<bool> reached_ = std::make_unique<bool>(false);
  std::unique_ptr<Chain> chain_;
};

// One query through [plugin, sentinel] for a plugin the test keeps.
Reply ask(Plugin& plugin, const QuerySpec& spec);

// YAML text as the config loader hands a section to a factory.
ConfigNode yaml_node(const std::string& text, const std::string& key_path,
                     const std::filesystem::path& file = "/etc/stsd/stsd.yaml");

// The PluginSetup pieces a factory needs, with no storage.
struct SetupFixture {
  std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
  Environment env{std::filesystem::temp_directory_path(), std::nullopt, clock, true};
  std::vector<std::string> listen{"127.0.0.1:5300"};
  size_t block = 0;
  PendingLoad load;  // what the factories register; a test commits it when it needs to
  PluginSetup setup(const ConfigNode& node) { return PluginSetup{env, node, listen, block, load}; }
};

}  // namespace stsd::test
