#include "notify_queue.h"

namespace stsd::transfer {

std::string NotifyQueue::key_of(const dns::Name& apex) {
  const auto wire = apex.lowered().wire();
  return {reinterpret_cast<const char*>(wire.data()), wire.size()};
}

size_t NotifyQueue::push(const dns::Name& apex, uint32_t serial) {
  std::string key = key_of(apex);
  if (auto it = serial_.find(key); it != serial_.end()) {
    it->second = serial;
    return 0;
  }
  size_t dropped = 0;
  while (order_.size() >= limit_) {
    serial_.erase(order_.front());
    order_.pop_front();
    ++dropped;
  }
  serial_.emplace(key, serial);
  order_.push_back(std::move(key));
  return dropped;
}

std::optional<QueuedZone> NotifyQueue::pop() {
  if (order_.empty()) return std::nullopt;
  auto it = serial_.find(order_.front());
  const auto& key = it->first;
  auto apex = dns::Name::from_wire({reinterpret_cast<const uint8_t*>(key.data()), key.size()});
  QueuedZone zone{apex.value_or(dns::Name()), it->second};
  serial_.erase(it);
  order_.pop_front();
  return zone;
}

}  // namespace stsd::transfer
