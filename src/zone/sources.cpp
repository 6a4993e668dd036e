#include "zone/source.h"
#include "zone/registration.h"

#include <algorithm>

namespace stsd::zone {

Sources::Handle Sources::add(std::string key, std::shared_ptr<const Source> source) {
  const Source* added = source.get();
  {
    std::lock_guard lock(mutex_);
    auto it = std::lower_bound(slots_.begin(), slots_.end(), key,
                               [](const Slot& slot, const std::string& k) { return slot.key < k; });
    if (it != slots_.end() && it->key == key)
      it->source = std::move(source);
    else
      slots_.insert(it, Slot{key, std::move(source)});
    ++generation_;
  }
  // The handle removes the source only while it is still the one under `key`: a reload
  // adds the new chain's source before the old chain (and its handle) goes away.
  return Handle(static_cast<void*>(this), [this, key = std::move(key), added](void*) {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& slot) { return slot.key == key; });
    if (it == slots_.end() || it->source.get() != added) return;
    slots_.erase(it);
    ++generation_;
  });
}

std::vector<std::shared_ptr<const Source>> Sources::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<const Source>> out;
  out.reserve(slots_.size());
  for (const auto& slot : slots_) out.push_back(slot.source);
  return out;
}

uint64_t Sources::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

}  // namespace stsd::zone

namespace stsd::zone {

void add_source_on_commit(Environment& env, PendingLoad& load, std::string key, std::shared_ptr<const Source> source,
                          std::weak_ptr<std::shared_ptr<void>> slot) {
  load.on_commit([&env, key = std::move(key), source = std::move(source), slot = std::move(slot)] {
    const auto held = slot.lock();
    if (!held) return;
    auto sources = env.shared<Sources>(Sources::kSharedKey, [] { return std::make_shared<Sources>(); });
    // Members go in reverse order: the handle (which uses the Sources) first.
    struct Registration {
      std::shared_ptr<Sources> sources;
      Sources::Handle handle;
    };
    auto handle = sources->add(key, source);
    *held = std::make_shared<Registration>(Registration{std::move(sources), std::move(handle)});
  });
}

}  // namespace stsd::zone
