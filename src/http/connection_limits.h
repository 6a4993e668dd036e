#pragma once
// Admission of connections and requests: caps on open connections (in total and per
// client) and a token-bucket request rate per client, so that one noisy or hostile
// client cannot take a server away from the others.
//
// A network connection is *pending* from accept until the service took its first
// request (TLS handshake done, header read, the service's header check passed, e.g.
// the admin API's bearer token); only then is it *established*. The two stages have caps
// of their own, so that connections that never prove anything (idle TCP, handshake-less
// TLS) cannot take the slots of clients that do:
// - established: max_connections in total, max_connections_per_client;
// - pending: max_pending in total, max_pending_per_client. When the pending pool is full
//   a new connection takes the slot of the OLDEST pending one, which is closed: a
//   client that sends its request promptly always gets its turn, and a flood has to
//   open connections faster than real clients finish their handshake to matter.
// Past the per-client pending cap a connection is refused at once.
//
// A "client" is an IPv4 address or an IPv6 /64 (RFC 4291 §2.5.4: one site usually holds
// a whole /64, so counting single IPv6 addresses would let one host take unlimited slots).
// Connections over a unix socket are established at once (the socket's file mode
// authenticates them) in a pool of their own, with max_connections and no per-client
// cap or rate, so no client on the network can use up the slots a local operator needs.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/ip/address.hpp>

namespace stsd::http {

class ConnectionLimits {
 public:
  struct Settings {
    size_t max_connections = 1024;                 // established, per pool (network, unix socket)
    size_t max_connections_per_client = SIZE_MAX;  // network clients only
    size_t max_pending = 64;                       // network connections not established yet
    size_t max_pending_per_client = SIZE_MAX;
    double requests_per_second = 0;  // per network client; 0: no limit
    double burst = 40;               // requests a client may send at once
    bool operator==(const Settings&) const = default;
  };
  using TimePoint = std::chrono::steady_clock::time_point;
  using ClientKey = std::array<unsigned char, 16>;

  explicit ConnectionLimits(Settings settings) : settings_(settings) {}
  ConnectionLimits(const ConnectionLimits&) = delete;
  ConnectionLimits& operator=(const ConnectionLimits&) = delete;
  void update(Settings settings);
  Settings settings() const;

  enum class Refusal { TooManyConnections, TooManyFromClient, TooManyPendingFromClient };

  struct Slot;
  // An open connection's slot; releases it when destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept = default;
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

    bool pending() const;
    // `close` runs (once, on the thread that admits the newer connection) when this
    // pending connection loses its slot to a newer one; it must close the connection
    // soon. Runs at once when that already happened. Not called once established.
    void on_evicted(std::function<void()> close);
    // Moves a pending connection into the established pool. Refusal when that pool (or
    // the client's share of it) is full; the ticket stays pending then.
    std::optional<Refusal> establish();

   private:
    friend class ConnectionLimits;
    Ticket(ConnectionLimits* owner, std::shared_ptr<Slot> slot) : owner_(owner), slot_(std::move(slot)) {}
    ConnectionLimits* owner_;
    std::shared_ptr<Slot> slot_;
  };

  struct Admission {
    std::optional<Ticket> ticket;
    Refusal refusal{};            // why there is no ticket
    bool evicted_oldest = false;  // the oldest pending connection was closed to make room
  };
  // A pending slot for a new connection from `client`.
  Admission admit(const boost::asio::ip::address& client);
  // An established slot for a new connection over a unix socket.
  Admission admit_local();

  // Takes one request token from `client`'s bucket; false when it is empty.
  bool allow_request(const boost::asio::ip::address& client, TimePoint now);

  size_t open_connections() const;  // established and pending, network and unix socket
  size_t pending_connections() const;
  size_t tracked_clients() const;

  static ClientKey key_of(const boost::asio::ip::address& client);

 private:
  struct ClientState {
    size_t connections = 0;  // established
    size_t pending = 0;
    double tokens = 0;
    TimePoint refilled{};
    bool bucket_started = false;
  };
  std::optional<Refusal> establish(Slot& slot);
  void release(Slot& slot);
  ClientState& client_state(const ClientKey& key, TimePoint now);  // with mutex_ held
  void prune(TimePoint now);                                        // with mutex_ held

  mutable std::mutex mutex_;
  Settings settings_;
  size_t network_connections_ = 0;
  size_t local_connections_ = 0;
  std::list<std::shared_ptr<Slot>> pending_;  // oldest first
  std::map<ClientKey, ClientState> clients_;
};

}  // namespace stsd::http
