#pragma once
// The listening sockets of one HTTP server: TCP endpoints (plain or TLS) and unix
// sockets, with admission (connection caps, ConnectionLimits) and a back-off when accept
// fails. A plain connection refused at accept gets `busy_reply` (a prepared 503) before
// the close, never a bare reset.
//
// A new set of addresses is taken in two phases, to fit the core's all-or-nothing
// reload (src/pending_load.h): `prepare` binds what is not bound yet (so "address in
// use" or a socket path another process serves is found while the reload can still be
// refused) without accepting on it; `commit` starts accepting on the new sockets and
// closes those no longer listed. A Prepared that is dropped uncommitted closes what it
// bound and changes nothing. Addresses in both the old and the new list keep their
// socket (binding them again would fail while they listen).
#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/strand.hpp>

#include "http/connection_limits.h"
#include "http/message.h"
#include "throttled_log.h"

namespace stsd::http {

// One address to listen on.
struct ListenAddress {
  Transport transport = Transport::Tcp;
  boost::asio::ip::tcp::endpoint endpoint;  // Tcp and Tls
  std::filesystem::path socket_path;        // Unix
  mode_t socket_mode = 0600;                // Unix: the socket file's permissions

  static ListenAddress tcp(boost::asio::ip::tcp::endpoint endpoint, bool tls = false);
  static ListenAddress unix_socket(std::filesystem::path path, mode_t mode = 0600);
  bool operator==(const ListenAddress&) const = default;
};

// "127.0.0.1:8443", "[::1]:9153", "unix socket /run/stsd.sock"
std::string address_text(const ListenAddress& address);

// A socket could not be bound; what() names the address and the reason.
class BindError : public std::runtime_error {
 public:
  BindError(ListenAddress failed, const std::string& message)
      : std::runtime_error(message), address(std::move(failed)) {}
  ListenAddress address;
};

// The suffix of the temporary name a unix socket is bound under before it is renamed
// into place (so a path must leave room for it: sun_path holds 107 bytes).
inline constexpr std::string_view kSocketTempSuffix = ".new";

class ListenerSet {
 public:
  using UnixSocket = boost::asio::local::stream_protocol::socket;
  // An admitted connection: its socket on a strand of its own, how it came in, and its
  // slot in the connection caps (held until the connection ends).
  struct Accepted {
    std::variant<boost::asio::ip::tcp::socket, UnixSocket> socket;
    Transport transport;
    boost::asio::ip::tcp::endpoint peer;
    ConnectionLimits::Ticket ticket;
  };
  using OnAccept = std::function<void(Accepted)>;

  // `name` prefixes log lines ("metrics: accept failed: ..."). The io_context may run
  // on any number of threads. `busy_reply`: the bytes of a whole HTTP reply.
  ListenerSet(boost::asio::io_context& io, std::string name, std::shared_ptr<ConnectionLimits> limits,
              OnAccept on_accept, std::string busy_reply = {});
  ~ListenerSet();
  ListenerSet(const ListenerSet&) = delete;
  ListenerSet& operator=(const ListenerSet&) = delete;

  struct Listener;
  // Bound sockets not in service yet. Dropping it closes what it bound.
  class Prepared {
   public:
    Prepared() = default;
    Prepared(Prepared&&) noexcept = default;
    Prepared& operator=(Prepared&&) noexcept;
    ~Prepared();
    // The addresses as bound (port 0 replaced by the port the system chose).
    std::vector<ListenAddress> addresses() const;

   private:
    friend class ListenerSet;
    void release();
    std::vector<std::shared_ptr<Listener>> listeners_;
    std::vector<std::shared_ptr<Listener>> fresh_;  // bound by this preparation
  };

  // Binds every address not bound yet. Throws BindError naming the first address that
  // failed; nothing stays bound then.
  Prepared prepare(const std::vector<ListenAddress>& addresses);
  // Takes `prepared` into service and closes the listeners it does not list.
  void commit(Prepared prepared);
  // Stops accepting and removes the unix socket files this set created. Idempotent.
  void close();

  // What is in service (port 0 replaced by the real port).
  std::vector<ListenAddress> addresses() const;
  std::vector<boost::asio::ip::tcp::endpoint> tcp_endpoints() const;
  // accept() failures since the start (the back-off keeps them few).
  uint64_t accept_failures() const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Listener>> active_;
};

}  // namespace stsd::http
