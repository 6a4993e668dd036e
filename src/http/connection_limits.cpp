#include "http/connection_limits.h"

#include <algorithm>

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

ConnectionLimits::Ticket::~Ticket() {
  if (owner_) owner_->release(client_, local_);
}

std::optional<ConnectionLimits::Ticket> ConnectionLimits::admit(const boost::asio::ip::address& client, Refusal* why) {
  const ClientKey key = key_of(client);
  std::lock_guard lock(mutex_);
  if (network_connections_ >= settings_.max_connections) {
    if (why) *why = Refusal::TooManyConnections;
    return std::nullopt;
  }
  if (clients_.size() >= kPruneThreshold) prune(std::chrono::steady_clock::now());
  ClientState& state = clients_[key];
  if (state.connections >= settings_.max_connections_per_client) {
    if (why) *why = Refusal::TooManyFromClient;
    return std::nullopt;
  }
  ++state.connections;
  ++network_connections_;
  return Ticket(this, key, false);
}

std::optional<ConnectionLimits::Ticket> ConnectionLimits::admit_local() {
  std::lock_guard lock(mutex_);
  if (local_connections_ >= settings_.max_connections) return std::nullopt;
  ++local_connections_;
  return Ticket(this, ClientKey{}, true);
}

void ConnectionLimits::release(const ClientKey& client, bool local) {
  std::lock_guard lock(mutex_);
  if (local) {
    --local_connections_;
    return;
  }
  --network_connections_;
  auto it = clients_.find(client);
  if (it != clients_.end() && it->second.connections > 0) --it->second.connections;
}

bool ConnectionLimits::allow_request(const boost::asio::ip::address& client, TimePoint now) {
  const ClientKey key = key_of(client);
  std::lock_guard lock(mutex_);
  if (settings_.requests_per_second <= 0) return true;
  if (clients_.size() >= kPruneThreshold) prune(now);
  ClientState& state = clients_[key];
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
    if (state.connections == 0 && refilled)
      it = clients_.erase(it);
    else
      ++it;
  }
}

size_t ConnectionLimits::open_connections() const {
  std::lock_guard lock(mutex_);
  return network_connections_ + local_connections_;
}

size_t ConnectionLimits::tracked_clients() const {
  std::lock_guard lock(mutex_);
  return clients_.size();
}

}  // namespace stsd::http
