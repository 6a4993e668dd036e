#pragma once
// A bounded set of idle connections, one per key at most, each until its own expiry: the
// policy fetcher's keep-alive (fetcher.h). Least recently parked goes first when the set
// is full, so that its memory stays bounded however many domains are probed. Safe to use
// from several threads; the connections themselves are the taker's alone.
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace stsd::confirm {

template <class Connection>
class IdlePool {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit IdlePool(size_t capacity) : capacity_(capacity) {}

  // The connection parked under `key`, if its expiry has not passed; the pool lets go of it.
  std::unique_ptr<Connection> take(const std::string& key, TimePoint now) {
    std::vector<std::unique_ptr<Connection>> closing;  // destroyed after the lock
    std::lock_guard lock(mutex_);
    drop_expired(now, closing);
    auto found = by_key_.find(key);
    if (found == by_key_.end()) return nullptr;
    auto connection = std::move(found->second->connection);
    parked_.erase(found->second);
    by_key_.erase(found);
    return connection;
  }

  // Parks `connection` under `key` until `expires`. It replaces one already parked there
  // (one idle connection per key is enough: rounds of a key do not overlap), and the least
  // recently parked ones leave while the pool is full.
  void park(const std::string& key, std::unique_ptr<Connection> connection, TimePoint expires, TimePoint now) {
    std::vector<std::unique_ptr<Connection>> closing;
    std::lock_guard lock(mutex_);
    drop_expired(now, closing);
    if (auto found = by_key_.find(key); found != by_key_.end()) remove(found->second, closing);
    while (!parked_.empty() && parked_.size() >= capacity_) remove(std::prev(parked_.end()), closing);
    if (capacity_ == 0 || expires <= now) {
      closing.push_back(std::move(connection));
      return;
    }
    parked_.push_front(Parked{key, std::move(connection), expires});
    by_key_[key] = parked_.begin();
  }

  // A smaller capacity takes effect at the next park().
  void set_capacity(size_t capacity) {
    std::lock_guard lock(mutex_);
    capacity_ = capacity;
  }

  size_t size() const {
    std::lock_guard lock(mutex_);
    return parked_.size();
  }

  // Lets go of every connection (e.g. while their event loop still exists).
  void clear() {
    std::list<Parked> closing;
    std::lock_guard lock(mutex_);
    closing.swap(parked_);
    by_key_.clear();
  }

 private:
  struct Parked {
    std::string key;
    std::unique_ptr<Connection> connection;
    TimePoint expires;
  };
  using Iterator = typename std::list<Parked>::iterator;

  void remove(Iterator parked, std::vector<std::unique_ptr<Connection>>& closing) {
    closing.push_back(std::move(parked->connection));
    by_key_.erase(parked->key);
    parked_.erase(parked);
  }

  // Every expired one, not only the oldest: expiries differ per server (Keep-Alive).
  void drop_expired(TimePoint now, std::vector<std::unique_ptr<Connection>>& closing) {
    for (auto it = parked_.begin(); it != parked_.end();) {
      auto next = std::next(it);
      if (it->expires <= now) remove(it, closing);
      it = next;
    }
  }

  mutable std::mutex mutex_;
  size_t capacity_;
  std::list<Parked> parked_;  // most recently parked first
  std::unordered_map<std::string, Iterator> by_key_;
};

}  // namespace stsd::confirm
