#include "http/connection_limits.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace stsd::http {
namespace {

// Past this many remembered clients, forget those that hold no connection and whose
// bucket has refilled (they are indistinguishable from new clients anyway).
constexpr size_t kPruneThreshold = 4096;

}  // namespace

ConnectionLimits::ClientKey ConnectionLimits::key_of(const boost::asio::ip::address& client) {
  ClientKey key{};
  if (client.is_v4()) {
    key = boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, client.to_v4()).to_bytes();
  } else {
    auto v6 = client.to_v6();
    if (v6.is_v4_mapped()) return v6.to_bytes();
    key = v6.to_bytes();
    std::fill(key.begin() + 8, key.end(), 0);  // the /64
  }
  return key;
}

void ConnectionLimits::update(Settings settings) {
  std::lock_guard lock(mutex_);
  settings_ = settings;
}

ConnectionLimits::Settings ConnectionLimits::settings() const {
  std::lock_guard lock(mutex_);
  return settings_;
}

struct ConnectionLimits::Slot {
  enum class Stage { Pending, Established, Evicted, Released };
  ClientKey client{};
  bool local = false;
  Stage stage = Stage::Pending;
  std::list<std::shared_ptr<Slot>>::iterator queued;  // its place in pending_ while Pending
  std::function<void()> evict;                        // while Pending
};

ConnectionLimits::Ticket::~Ticket() {
  if (slot_) owner_->release(*slot_);
}

bool ConnectionLimits::Ticket::pending() const {
  std::lock_guard lock(owner_->mutex_);
  return slot_->stage == Slot::Stage::Pending;
}

void ConnectionLimits::Ticket::on_evicted(std::function<void()> close) {
  {
    std::lock_guard lock(owner_->mutex_);
    if (slot_->stage != Slot::Stage::Evicted) {
      if (slot_->stage == Slot::Stage::Pending) slot_->evict = std::move(close);
      return;
    }
  }
  close();
}

std::optional<ConnectionLimits::Refusal> ConnectionLimits::Ticket::establish() { return owner_->establish(*slot_); }

ConnectionLimits::Admission ConnectionLimits::admit(const boost::asio::ip::address& client) {
  const ClientKey key = key_of(client);
  Admission admission;
  std::vector<std::function<void()>> evictions;  // run after the lock is released
  {
    std::lock_guard lock(mutex_);
    ClientState& state = client_state(key, std::chrono::steady_clock::now());
    if (state.pending >= settings_.max_pending_per_client) {
      admission.refusal = Refusal::TooManyPendingFromClient;
      return admission;
    }
    while (!pending_.empty() && pending_.size() >= std::max<size_t>(1, settings_.max_pending)) {
      std::shared_ptr<Slot> oldest = std::move(pending_.front());
      pending_.pop_front();
      oldest->stage = Slot::Stage::Evicted;
      if (auto it = clients_.find(oldest->client); it != clients_.end() && it->second.pending > 0) --it->second.pending;
      if (oldest->evict) evictions.push_back(std::move(oldest->evict));
      admission.evicted_oldest = true;
    }
    auto slot = std::make_shared<Slot>();
    slot->client = key;
    slot->queued = pending_.insert(pending_.end(), slot);
    ++state.pending;
    admission.ticket.emplace(Ticket(this, std::move(slot)));
  }
  for (auto& close : evictions) close();
  return admission;
}

ConnectionLimits::Admission ConnectionLimits::admit_local() {
  Admission admission;
  std::lock_guard lock(mutex_);
  if (local_connections_ >= settings_.max_connections) {
    admission.refusal = Refusal::TooManyConnections;
    return admission;
  }
  ++local_connections_;
  auto slot = std::make_shared<Slot>();
  slot->local = true;
  slot->stage = Slot::Stage::Established;
  admission.ticket.emplace(Ticket(this, std::move(slot)));
  return admission;
}

std::optional<ConnectionLimits::Refusal> ConnectionLimits::establish(Slot& slot) {
  std::lock_guard lock(mutex_);
  if (slot.stage == Slot::Stage::Established) return std::nullopt;
  if (slot.stage != Slot::Stage::Pending) return Refusal::TooManyConnections;  // evicted: closing anyway
  if (network_connections_ >= settings_.max_connections) return Refusal::TooManyConnections;
  ClientState& state = clients_[slot.client];
  if (state.connections >= settings_.max_connections_per_client) return Refusal::TooManyFromClient;
  pending_.erase(slot.queued);
  if (state.pending > 0) --state.pending;
  ++state.connections;
  ++network_connections_;
  slot.stage = Slot::Stage::Established;
  slot.evict = nullptr;
  return std::nullopt;
}

void ConnectionLimits::release(Slot& slot) {
  std::function<void()> dropped;  // destroyed after the lock: it may own a connection's last reference
  std::lock_guard lock(mutex_);
  dropped = std::move(slot.evict);
  const auto stage = std::exchange(slot.stage, Slot::Stage::Released);
  if (stage == Slot::Stage::Evicted || stage == Slot::Stage::Released) return;
  if (slot.local) {
    --local_connections_;
    return;
  }
  auto it = clients_.find(slot.client);
  if (stage == Slot::Stage::Pending) {
    pending_.erase(slot.queued);
    if (it != clients_.end() && it->second.pending > 0) --it->second.pending;
    return;
  }
  --network_connections_;
  if (it != clients_.end() && it->second.connections > 0) --it->second.connections;
}

ConnectionLimits::ClientState& ConnectionLimits::client_state(const ClientKey& key, TimePoint now) {
  if (clients_.size() >= kPruneThreshold && !clients_.contains(key)) prune(now);
  return clients_[key];
}

bool ConnectionLimits::allow_request(const boost::asio::ip::address& client, TimePoint now) {
  const ClientKey key = key_of(client);
  std::lock_guard lock(mutex_);
  if (settings_.requests_per_second <= 0) return true;
  ClientState& state = client_state(key, now);
  const double burst = std::max(1.0, settings_.burst);
  if (!state.bucket_started) {
    state.bucket_started = true;
    state.tokens = burst;
  } else if (now > state.refilled) {
    std::chrono::duration<double> elapsed = now - state.refilled;
    state.tokens = std::min(burst, state.tokens + elapsed.count() * settings_.requests_per_second);
  }
  state.refilled = std::max(state.refilled, now);
  if (state.tokens < 1) return false;
  state.tokens -= 1;
  return true;
}

void ConnectionLimits::prune(TimePoint now) {
  const double burst = std::max(1.0, settings_.burst);
  for (auto it = clients_.begin(); it != clients_.end();) {
    const ClientState& state = it->second;
    std::chrono::duration<double> elapsed = now - state.refilled;
    const bool refilled = !state.bucket_started || settings_.requests_per_second <= 0 ||
                          state.tokens + elapsed.count() * settings_.requests_per_second >= burst;
    if (state.connections == 0 && state.pending == 0 && refilled)
      it = clients_.erase(it);
    else
      ++it;
  }
}

size_t ConnectionLimits::open_connections() const {
  std::lock_guard lock(mutex_);
  return network_connections_ + local_connections_ + pending_.size();
}

size_t ConnectionLimits::pending_connections() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

size_t ConnectionLimits::tracked_clients() const {
  std::lock_guard lock(mutex_);
  return clients_.size();
}

}  // namespace stsd::http
