#pragma once
// Admission of connections and requests: a cap on open connections (in total and per
// client) and a token-bucket request rate per client, so that one noisy or hostile
// client cannot take a server away from the others.
//
// A "client" is an IPv4 address or an IPv6 /64 (RFC 4291 §2.5.4: one site usually holds
// a whole /64, so counting single IPv6 addresses would let one host take unlimited slots).
// Connections over a unix socket are counted in a pool of their own with the same total
// cap and no per-client cap or rate: a local client is authenticated by the socket's
// file mode, and no client on the network can use up the slots it needs.
#include <array>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>

#include <boost/asio/ip/address.hpp>

namespace stsd::http {

class ConnectionLimits {
 public:
  struct Settings {
    size_t max_connections = 1024;                 // per pool (network, unix socket)
    size_t max_connections_per_client = SIZE_MAX;  // network clients only
    double requests_per_second = 0;                // per network client; 0: no limit
    double burst = 40;                             // requests a client may send at once
    bool operator==(const Settings&) const = default;
  };
  using TimePoint = std::chrono::steady_clock::time_point;
  using ClientKey = std::array<unsigned char, 16>;

  explicit ConnectionLimits(Settings settings) : settings_(settings) {}
  void update(Settings settings);
  Settings settings() const;

  // An open connection's slot; releases it when destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept : owner_(other.owner_), client_(other.client_), local_(other.local_) {
      other.owner_ = nullptr;
    }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    friend class ConnectionLimits;
    Ticket(ConnectionLimits* owner, ClientKey client, bool local) : owner_(owner), client_(client), local_(local) {}
    ConnectionLimits* owner_;
    ClientKey client_;
    bool local_;
  };

  enum class Refusal { TooManyConnections, TooManyFromClient };
  // A slot for a new connection from `client`, or why there is none.
  std::optional<Ticket> admit(const boost::asio::ip::address& client, Refusal* why = nullptr);
  // A slot for a new connection over a unix socket.
  std::optional<Ticket> admit_local();

  // Takes one request token from `client`'s bucket; false when it is empty.
  bool allow_request(const boost::asio::ip::address& client, TimePoint now);

  size_t open_connections() const;  // network and unix socket
  size_t tracked_clients() const;

  static ClientKey key_of(const boost::asio::ip::address& client);

 private:
  struct ClientState {
    size_t connections = 0;
    double tokens = 0;
    TimePoint refilled{};
    bool bucket_started = false;
  };
  void release(const ClientKey& client, bool local);
  void prune(TimePoint now);  // with mutex_ held

  mutable std::mutex mutex_;
  Settings settings_;
  size_t network_connections_ = 0;
  size_t local_connections_ = 0;
  std::map<ClientKey, ClientState> clients_;
};

}  // namespace stsd::http
