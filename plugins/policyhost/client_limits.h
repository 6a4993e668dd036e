#pragma once
// Per-client admission for the policy host: a cap on open connections (in total and per
// client) and a token-bucket request rate per client, so that one noisy or hostile
// client cannot take the host away from the senders fetching policies.
//
// A "client" is an IPv4 address or an IPv6 /64 (RFC 4291 §2.5.4: one site usually holds
// a whole /64, so counting single IPv6 addresses would let one host take unlimited slots).
#include <array>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>

#include <boost/asio/ip/address.hpp>

namespace stsd::policyhost {

class ClientLimits {
 public:
  struct Settings {
    size_t max_connections = 1024;
    size_t max_connections_per_client = 32;
    double requests_per_second = 10;   // 0: no limit
    double burst = 40;                 // requests a client may send at once
  };
  using TimePoint = std::chrono::steady_clock::time_point;
  using ClientKey = std::array<unsigned char, 16>;

  explicit ClientLimits(Settings settings) : settings_(settings) {}
  void update(Settings settings);

  // An open connection's slot; releases it when destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept : owner_(other.owner_), client_(other.client_) { other.owner_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    friend class ClientLimits;
    Ticket(ClientLimits* owner, ClientKey client) : owner_(owner), client_(client) {}
    ClientLimits* owner_;
    ClientKey client_;
  };

  enum class Refusal { TooManyConnections, TooManyFromClient };
  // A slot for a new connection from `client`, or why there is none.
  std::optional<Ticket> admit(const boost::asio::ip::address& client, Refusal* why = nullptr);

  // Takes one request token from `client`'s bucket; false when it is empty.
  bool allow_request(const boost::asio::ip::address& client, TimePoint now);

  size_t open_connections() const;
  size_t tracked_clients() const;

  static ClientKey key_of(const boost::asio::ip::address& client);

 private:
  struct ClientState {
    size_t connections = 0;
    double tokens = 0;
    TimePoint refilled{};
    bool bucket_started = false;
  };
  void release(const ClientKey& client);
  void prune(TimePoint now);  // with mutex_ held

  mutable std::mutex mutex_;
  Settings settings_;
  size_t connections_ = 0;
  std::map<ClientKey, ClientState> clients_;
};

}  // namespace stsd::policyhost
