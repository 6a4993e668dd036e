#pragma once
// What the core offers plugins and services at set-up: the config file's folder, the
// `storage:` folder (the store layer opens its database there: store::PolicyStore::open),
// the clock, and process-wide shared objects.
#include <any>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "clock.h"

namespace stsd {

// `storage_min_free_mib`'s default (docs/configuration.md): room for a memtable flush
// (16 MiB), the next write-ahead log and MANIFEST, and a compaction of a small store.
inline constexpr uint64_t kDefaultStorageMinFreeMib = 64;

class Environment {
 public:
  Environment(std::filesystem::path config_dir, std::optional<std::filesystem::path> storage,
              std::shared_ptr<Clock> clock, bool check_only,
              uint64_t storage_min_free_bytes = kDefaultStorageMinFreeMib << 20);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  const std::filesystem::path& config_dir() const { return config_dir_; }

  // True under `stsd --check-config`: validate config, but open no socket and no store.
  bool check_only() const { return check_only_; }

  // The top-level `storage:` folder, when configured.
  const std::optional<std::filesystem::path>& storage_path() const { return storage_; }
  // `storage_min_free_mib` in bytes: the store refuses writes below this much free space.
  uint64_t storage_min_free_bytes() const { return storage_min_free_bytes_; }

  Clock& clock() { return *clock_; }
  std::shared_ptr<Clock> clock_ptr() { return clock_; }

  // One object per key for the whole process, shared by plugins (in every server block)
  // and services, and kept across reloads. Created by `make` on first request.
  template <class T>
  std::shared_ptr<T> shared(const std::string& key, const std::function<std::shared_ptr<T>()>& make) {
    std::lock_guard lock(mutex_);
    auto it = shared_.find(key);
    if (it != shared_.end()) return std::any_cast<std::shared_ptr<T>>(it->second);
    auto object = make();
    shared_.emplace(key, object);
    return object;
  }
  template <class T>
  std::shared_ptr<T> find_shared(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = shared_.find(key);
    if (it == shared_.end()) return nullptr;
    return std::any_cast<std::shared_ptr<T>>(it->second);
  }

 private:
  std::filesystem::path config_dir_;
  std::optional<std::filesystem::path> storage_;
  uint64_t storage_min_free_bytes_;
  std::shared_ptr<Clock> clock_;
  bool check_only_;
  // Recursive: a shared object's `make` may itself call shared().
  std::recursive_mutex mutex_;
  std::map<std::string, std::any> shared_;
};

}  // namespace stsd
