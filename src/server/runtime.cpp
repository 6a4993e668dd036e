#include "server/runtime.h"

#include <charconv>
#include <set>
#include <thread>

#include "net/address.h"

namespace stsd {
namespace {
// RFC 5001 §2.3 leaves the payload's content to the operator. Knot's syntax: text as
// written, or hex after "0x" (binary identities).
std::vector<uint8_t> parse_nsid(const ConfigNode& node) {
  constexpr size_t kMaxNsid = 128;  // an identity, not a payload: keeps answers small
  const auto text = node.as_string();
  std::vector<uint8_t> out;
  if (text.size() > 2 && (text.starts_with("0x") || text.starts_with("0X"))) {
    const std::string_view hex = std::string_view(text).substr(2);
    if (hex.size() % 2) node.fail("hex NSID '" + text + "' has an odd number of digits");
    for (size_t i = 0; i < hex.size(); i += 2) {
      unsigned value = 0;
      const auto [end, error] = std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
      if (error != std::errc() || end != hex.data() + i + 2)
        node.fail("hex NSID '" + text + "' has a non-hex digit at position " + std::to_string(i + 3));
      out.push_back(static_cast<uint8_t>(value));
    }
  } else {
    out.assign(text.begin(), text.end());
  }
  if (out.empty()) node.fail("NSID is empty; leave the key out to send none");
  if (out.size() > kMaxNsid) node.fail("NSID is " + std::to_string(out.size()) + " octets; at most 128");
  return out;
}
}  // namespace

CoreSettings parse_core_settings(const ConfigNode& root, const Registry& registry) {
  if (!root.is_map()) root.fail("the config must be a map of top-level keys");
  static const std::set<std::string> core_keys = {
      "storage", "storage_min_free_mib", "servers", "workers", "udp_size", "udp", "tcp", "log_level"};
  for (const auto& key : root.keys()) {
    if (core_keys.count(key) || registry.find_service(key)) continue;
    std::string known;
    for (const auto& k : core_keys) known += (known.empty() ? "" : ", ") + k;
    for (const auto& s : registry.services()) known += ", " + s.key;
    root.get(key)->fail("unknown top-level key '" + key + "' (known keys: " + known + ")");
  }
  CoreSettings settings;
  if (auto storage = root.get("storage")) settings.storage = storage->as_path();
  settings.storage_min_free_mib = root.uint_or("storage_min_free_mib", settings.storage_min_free_mib, 0, 1 << 20);
  if (auto workers = root.get("workers")) {
    settings.workers = static_cast<unsigned>(workers->as_uint(1, 256));
  }
  settings.udp_size = static_cast<uint16_t>(root.uint_or("udp_size", dns::kDefaultEdnsBuffer, 512, 4096));
  if (auto udp = root.get("udp")) {
    udp->expect_map({"io", "burst_datagrams", "burst_wait_us"});
    settings.udp_burst_datagrams =
        static_cast<unsigned>(udp->uint_or("burst_datagrams", kDefaultUdpBurstDatagrams, 1, 256));
    settings.udp_burst_wait =
        std::chrono::microseconds(udp->uint_or("burst_wait_us", kDefaultUdpBurstWait.count(), 0, 10000));
    if (auto io = udp->get("io")) {
      const auto value = io->as_string();
      if (value == "auto")
        settings.udp_io = UdpIo::Auto;
      else if (value == "io_uring")
        settings.udp_io = UdpIo::IoUring;
      else if (value == "recvmmsg")
        settings.udp_io = UdpIo::Recvmmsg;
      else
        io->fail("must be auto, io_uring or recvmmsg, not '" + value + "'");
    }
  }
  if (auto tcp = root.get("tcp")) {
    tcp->expect_map({"idle_timeout", "io_timeout", "max_connections"});
    settings.tcp_idle_timeout = tcp->duration_or("idle_timeout", settings.tcp_idle_timeout);
    if (settings.tcp_idle_timeout.count() < 1) tcp->get("idle_timeout")->fail("must be at least 1s");
    settings.tcp_io_timeout = tcp->duration_or("io_timeout", settings.tcp_io_timeout);
    if (settings.tcp_io_timeout.count() < 1) tcp->get("io_timeout")->fail("must be at least 1s");
    if (tcp->get("max_connections"))
      settings.tcp_max_connections = tcp->uint_or("max_connections", kDefaultTcpMaxConnections, 1, 1000000);
  }
  if (auto level = root.get("log_level")) {
    const auto value = level->as_string();
    if (value == "debug")
      settings.log_level = log::Level::Debug;
    else if (value == "info")
      settings.log_level = log::Level::Info;
    else if (value == "warning")
      settings.log_level = log::Level::Warning;
    else if (value == "error")
      settings.log_level = log::Level::Error;
    else
      level->fail("expected debug, info, warning or error");
  }
  return settings;
}

std::vector<ServerBlock> build_server_blocks(const ConfigNode& root, const Registry& registry, Environment& env,
                                             PendingLoad& load) {
  auto servers = root.get("servers");
  if (!servers) root.fail("missing required key 'servers' (a list of server blocks)");
  if (!servers->is_sequence() || servers->size() == 0) servers->fail("expected a list of server blocks");
  std::vector<ServerBlock> blocks;
  std::set<std::pair<std::string, uint16_t>> seen_endpoints;
  for (size_t index = 0; index < servers->size(); ++index) {
    const auto block_config = servers->at(index);
    block_config.expect_map({"listen", "nsid", "plugins"});
    ServerBlock block;
    const auto listen = block_config.require("listen");
    for (const auto& item : listen.items()) {
      const auto text = item.as_string();
      const auto endpoints = net::parse_listen(text);
      if (!endpoints) item.fail(endpoints.error());
      for (const auto& e : *endpoints) {
        if (!seen_endpoints.insert({e.address.to_string(), e.port}).second)
          item.fail("'" + text + "' is already used by another listen entry");
        block.endpoints.emplace_back(e.address, e.port);
      }
      block.listen.push_back(text);
    }
    if (block.listen.empty()) listen.fail("expected at least one address");
    const auto plugins_config = block_config.require("plugins");
    if (!plugins_config.is_map()) plugins_config.fail("expected a map of plugin names to their settings");
    for (const auto& name : plugins_config.keys())
      if (!registry.find_plugin(name)) {
        std::string known;
        for (const auto& p : registry.plugins()) known += (known.empty() ? "" : ", ") + p.name;
        plugins_config.get(name)->fail("unknown plugin '" + name + "' (compiled-in plugins: " + known + ")");
      }
    // Chain order comes from the registry (the compiled-in list), not from the file.
    std::vector<std::unique_ptr<Plugin>> plugins;
    for (const auto& entry : registry.plugins()) {
      auto section = plugins_config.get(entry.name);
      if (!section) continue;
      PluginSetup setup{env, *section, block.listen, index, load};
      auto plugin = entry.factory(setup);
      if (plugin) plugins.push_back(std::move(plugin));
    }
    std::vector<uint8_t> nsid;
    if (auto nsid_config = block_config.get("nsid")) nsid = parse_nsid(*nsid_config);
    block.chain = std::make_shared<const Chain>(std::move(plugins), std::move(nsid));
    blocks.push_back(std::move(block));
  }
  return blocks;
}

std::vector<NamedService> build_services(const ConfigNode& root, const Registry& registry, Environment& env) {
  std::vector<NamedService> services;
  for (const auto& entry : registry.services()) {
    auto section = root.get(entry.key);
    auto service = entry.factory(section ? &*section : nullptr, env);
    if (service) services.push_back({entry.key, std::move(service)});
  }
  return services;
}

}  // namespace stsd
