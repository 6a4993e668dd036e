#pragma once
// Turning a config file into what the server runs: core settings, one chain per server
// block, and the services owning the other top-level keys.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "config.h"
#include "logging.h"
#include "environment.h"
#include "plugin.h"
#include "registry.h"
#include "server/listener_settings.h"

namespace stsd {

struct CoreSettings {
  std::optional<std::filesystem::path> storage;
  uint64_t storage_min_free_mib = kDefaultStorageMinFreeMib;
  unsigned workers = 0;                         // 0: one per core
  uint16_t udp_size = dns::kDefaultEdnsBuffer;  // the largest UDP answer we send
  UdpIo udp_io = UdpIo::Auto;
  unsigned udp_burst_datagrams = kDefaultUdpBurstDatagrams;
  std::chrono::microseconds udp_burst_wait = kDefaultUdpBurstWait;
  std::chrono::seconds tcp_idle_timeout{10};
  std::chrono::seconds tcp_io_timeout{2};
  // Unset: kDefaultTcpMaxConnections. Either is lowered at start to what the open-file
  // limit allows (descriptor_budget.h).
  std::optional<size_t> tcp_max_connections;
  log::Level log_level = log::Level::Info;
};

struct ServerBlock {
  std::vector<std::string> listen;  // as written, for messages
  std::vector<boost::asio::ip::udp::endpoint> endpoints;
  std::shared_ptr<const Chain> chain;
};

struct NamedService {
  std::string key;
  std::unique_ptr<Service> service;
};

// Reads the top-level keys the core owns. Throws ConfigError.
CoreSettings parse_core_settings(const ConfigNode& root, const Registry& registry);

// Builds every server block's chain; the factories register their effects in `load`.
// Throws ConfigError (file:line:key).
std::vector<ServerBlock> build_server_blocks(const ConfigNode& root, const Registry& registry, Environment& env,
                                             PendingLoad& load);

// Calls every service factory with its section (or nullptr). Throws ConfigError.
std::vector<NamedService> build_services(const ConfigNode& root, const Registry& registry, Environment& env);

// A chain published to the workers. Readers check a generation counter (one relaxed
// atomic load per query) and take the lock only when the chain was replaced.
class ChainSlot {
 public:
  explicit ChainSlot(std::shared_ptr<const Chain> chain) : chain_(std::move(chain)) {}
  void publish(std::shared_ptr<const Chain> chain) {
    std::lock_guard lock(mutex_);
    chain_ = std::move(chain);
    generation_.fetch_add(1, std::memory_order_release);
  }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const Chain> current() const {
    std::lock_guard lock(mutex_);
    return chain_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Chain> chain_;
  std::atomic<uint64_t> generation_{0};
};

// One worker's view of a ChainSlot.
class ChainCache {
 public:
  const Chain& get(const ChainSlot& slot) {
    const uint64_t g = slot.generation();
    if (!chain_ || g != generation_) {
      chain_ = slot.current();
      generation_ = g;
    }
    return *chain_;
  }

 private:
  uint64_t generation_ = 0;
  std::shared_ptr<const Chain> chain_;
};

}  // namespace stsd
