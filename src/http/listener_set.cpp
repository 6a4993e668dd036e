#include "http/listener_set.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <optional>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/refusal.h"
#include "logging.h"
#include "net/accept_back_off.h"

namespace stsd::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using local_stream = asio::local::stream_protocol;

namespace {

// True when something accepts connections on the unix socket at `path`.
bool socket_is_served(const std::filesystem::path& path) {
  asio::io_context io;
  local_stream::socket probe(io);
  boost::system::error_code error;
  probe.connect(local_stream::endpoint(path.native()), error);
  return !error;
}

}  // namespace

ListenAddress ListenAddress::tcp(boost::asio::ip::tcp::endpoint endpoint, bool tls) {
  ListenAddress address;
  address.transport = tls ? Transport::Tls : Transport::Tcp;
  address.endpoint = endpoint;
  return address;
}

ListenAddress ListenAddress::unix_socket(std::filesystem::path path, mode_t mode) {
  ListenAddress address;
  address.transport = Transport::Unix;
  address.socket_path = std::move(path);
  address.socket_mode = mode;
  return address;
}

std::string address_text(const ListenAddress& address) {
  if (address.transport == Transport::Unix) return "unix socket " + address.socket_path.native();
  return endpoint_text(address.endpoint);
}

// One bound socket. Unix sockets are bound under a temporary name, restricted to their
// mode, and renamed into place when they go into service: the socket never exists at
// its real path with a wider mode, and a client never sees a path that accepts nothing.
struct ListenerSet::Listener {
  ListenAddress requested;  // as asked (port 0 stays 0): what a later prepare matches
  ListenAddress bound;      // as bound
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<local_stream::acceptor> unix_acceptor;
  std::filesystem::path temporary;  // unix: the name bound until commit
  struct stat placed {};            // unix: the file renamed into place
  bool in_service = false;

  ~Listener() {
    boost::system::error_code ignored;
    if (tcp_acceptor) tcp_acceptor->close(ignored);
    if (unix_acceptor) unix_acceptor->close(ignored);
    if (!temporary.empty()) ::unlink(temporary.c_str());
  }

  bool is_open() const { return tcp_acceptor ? tcp_acceptor->is_open() : unix_acceptor && unix_acceptor->is_open(); }

  void close() {
    boost::system::error_code ignored;
    if (tcp_acceptor) tcp_acceptor->close(ignored);
    if (unix_acceptor) unix_acceptor->close(ignored);
  }

  // Removes the socket file only if it is still the one this listener created (a new
  // stsd may have replaced it meanwhile).
  void remove_socket_file() {
    if (!in_service || bound.transport != Transport::Unix) return;
    struct stat now {};
    const auto& path = bound.socket_path;
    if (::lstat(path.c_str(), &now) == 0 && now.st_ino == placed.st_ino && now.st_dev == placed.st_dev)
      ::unlink(path.c_str());
    in_service = false;
  }
};

struct ListenerSet::Shared {
  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  std::string name;
  std::shared_ptr<ConnectionLimits> limits;
  OnAccept on_accept;
  log::ThrottledLog accept_log;
  log::ThrottledLog refused_log;
  log::ThrottledLog evicted_log;
  std::atomic<uint64_t> failures{0};
  const std::string busy_reply;

  Shared(asio::io_context& context, std::string log_name, std::shared_ptr<ConnectionLimits> connection_limits,
         OnAccept handler, std::string refusal)
      : io(context),
        strand(asio::make_strand(context)),
        name(std::move(log_name)),
        limits(std::move(connection_limits)),
        on_accept(std::move(handler)),
        busy_reply(std::move(refusal)) {}

  std::shared_ptr<Listener> bind(const ListenAddress& address) {
    auto listener = std::make_shared<Listener>();
    listener->requested = address;
    listener->bound = address;
    if (address.transport == Transport::Unix)
      bind_unix(*listener);
    else
      bind_tcp(*listener);
    return listener;
  }

  void bind_tcp(Listener& listener) {
    const auto& endpoint = listener.requested.endpoint;
    auto& acceptor = listener.tcp_acceptor.emplace(strand);
    boost::system::error_code error;
    acceptor.open(endpoint.protocol(), error);
    if (!error) acceptor.set_option(asio::socket_base::reuse_address(true), error);
    if (!error && endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), error);
    if (!error) acceptor.bind(endpoint, error);
    if (!error) listener.bound.endpoint = acceptor.local_endpoint(error);
    if (error)
      throw BindError(listener.requested, "cannot listen on " + endpoint_text(endpoint) + ": " + error.message());
  }

  void bind_unix(Listener& listener) {
    const auto& path = listener.requested.socket_path;
    const std::string where = address_text(listener.requested);
    auto fail = [&](const std::string& why) { throw BindError(listener.requested, where + ": " + why); };
    std::error_code fs_error;
    if (path.has_parent_path()) {
      std::filesystem::create_directories(path.parent_path(), fs_error);
      if (fs_error) fail("cannot create its folder: " + fs_error.message());
    }
    struct stat existing {};
    if (::lstat(path.c_str(), &existing) == 0) {
      if (!S_ISSOCK(existing.st_mode)) fail("the path exists and is not a socket; refusing to replace it");
      if (socket_is_served(path)) fail("another process is serving it (is stsd already running?)");
      // A socket left behind by a process that was killed: replaced by the rename at commit.
    }
    const std::filesystem::path temporary = path.native() + std::string(kSocketTempSuffix);
    if (::lstat(temporary.c_str(), &existing) == 0 && S_ISSOCK(existing.st_mode)) ::unlink(temporary.c_str());
    auto& acceptor = listener.unix_acceptor.emplace(strand);
    boost::system::error_code error;
    acceptor.open(local_stream(), error);
    if (!error) acceptor.bind(local_stream::endpoint(temporary.native()), error);
    if (error) fail("cannot bind " + temporary.native() + ": " + error.message());
    listener.temporary = temporary;
    if (::chmod(temporary.c_str(), listener.requested.socket_mode) != 0)
      fail(std::string("cannot set its mode: ") + std::strerror(errno));
  }

  // Listens and, for a unix socket, moves the file into place. Runs at commit, which
  // must not fail: a failure here (rare after a successful bind) is logged.
  bool put_in_service(Listener& listener) {
    boost::system::error_code error;
    if (listener.tcp_acceptor) listener.tcp_acceptor->listen(asio::socket_base::max_listen_connections, error);
    if (listener.unix_acceptor) listener.unix_acceptor->listen(asio::socket_base::max_listen_connections, error);
    std::string failure = error ? "cannot listen: " + error.message() : std::string();
    if (!error && listener.unix_acceptor) {
      const auto& path = listener.bound.socket_path;
      if (::rename(listener.temporary.c_str(), path.c_str()) != 0)
        failure = std::string("cannot move the socket into place: ") + std::strerror(errno);
      else
        listener.temporary.clear();
      ::lstat(path.c_str(), &listener.placed);
    }
    if (!failure.empty()) {
      log::error(name + ": " + address_text(listener.bound) + ": " + failure);
      listener.close();
      return false;
    }
    listener.in_service = true;
    return true;
  }

  // --- accepting (on the strand) ----------------------------------------------------------

  static void accept_next(const std::shared_ptr<Shared>& self, const std::shared_ptr<Listener>& listener) {
    if (!listener->is_open()) return;
    auto handler = [self, listener](boost::system::error_code error, auto socket) {
      if (error == asio::error::operation_aborted || !listener->is_open()) return;
      if (error) return self->back_off(self, listener, error);
      self->admit(std::move(socket), listener->bound.transport);
      accept_next(self, listener);
    };
    if (listener->tcp_acceptor)
      listener->tcp_acceptor->async_accept(asio::make_strand(self->io), handler);
    else
      listener->unix_acceptor->async_accept(asio::make_strand(self->io), handler);
  }

  void back_off(const std::shared_ptr<Shared>& self, const std::shared_ptr<Listener>& listener,
                const boost::system::error_code& error) {
    ++failures;
    if (net::accept_error_is_transient(error)) return accept_next(self, listener);
    accept_log.report(name + ": accept failed: " + error.message());
    auto timer = std::make_shared<asio::steady_timer>(strand, net::kAcceptBackOff);
    timer->async_wait([self, listener, timer](boost::system::error_code) { accept_next(self, listener); });
  }

  void admit(tcp::socket socket, Transport transport) {
    boost::system::error_code error;
    const tcp::endpoint peer = socket.remote_endpoint(error);
    if (error) return;  // the client is gone already
    auto admission = limits->admit(peer.address());
    if (admission.evicted_oldest) {
      evicted_log.report(name + ": max_pending (" + std::to_string(limits->settings().max_pending) +
                         ") connections wait for their first request; closed the oldest to admit " +
                         endpoint_text(peer));
    }
    if (!admission.ticket) {
      refuse(socket, transport,
             name + ": refused a connection from " + endpoint_text(peer) + ": " + refusal_text(admission.refusal));
      return;
    }
    on_accept(Accepted{std::move(socket), transport, peer, std::move(*admission.ticket)});
  }

  void admit(UnixSocket socket, Transport transport) {
    auto admission = limits->admit_local();
    if (!admission.ticket) {
      refuse(socket, transport, name + ": refused a connection on the unix socket: " + refusal_text(admission.refusal));
      return;
    }
    on_accept(Accepted{std::move(socket), transport, tcp::endpoint{}, std::move(*admission.ticket)});
  }

  std::string refusal_text(ConnectionLimits::Refusal why) const {
    const auto settings = limits->settings();
    switch (why) {
      case ConnectionLimits::Refusal::TooManyFromClient:
        return "max_connections_per_client (" + std::to_string(settings.max_connections_per_client) + ") reached";
      case ConnectionLimits::Refusal::TooManyPendingFromClient:
        return "max_pending_per_client (" + std::to_string(settings.max_pending_per_client) +
               ") connections from this client wait for their first request";
      case ConnectionLimits::Refusal::TooManyConnections:
        break;
    }
    return "max_connections (" + std::to_string(settings.max_connections) + ") reached";
  }

  // A plain connection gets the prepared 503 (said without waiting) rather than a bare
  // close the client would see as a reset; a TLS one is closed (no reply can be said
  // before a handshake).
  template <class Socket>
  void refuse(Socket& socket, Transport transport, const std::string& log_line) {
    refused_log.report(log_line);
    say_and_end(socket.native_handle(), transport == Transport::Tls ? std::string_view() : busy_reply);
    boost::system::error_code ignored;
    socket.close(ignored);
  }
};

// --- Prepared ------------------------------------------------------------------------------

ListenerSet::Prepared& ListenerSet::Prepared::operator=(Prepared&& other) noexcept {
  release();
  listeners_ = std::move(other.listeners_);
  fresh_ = std::move(other.fresh_);
  return *this;
}

ListenerSet::Prepared::~Prepared() { release(); }

void ListenerSet::Prepared::release() {
  // Listeners bound here and never committed: closed (and their temporary socket
  // files removed) by their destructor once the last reference goes.
  listeners_.clear();
  fresh_.clear();
}

std::vector<ListenAddress> ListenerSet::Prepared::addresses() const {
  std::vector<ListenAddress> out;
  for (const auto& listener : listeners_) out.push_back(listener->bound);
  return out;
}

// --- ListenerSet ---------------------------------------------------------------------------

ListenerSet::ListenerSet(asio::io_context& io, std::string name, std::shared_ptr<ConnectionLimits> limits,
                         OnAccept on_accept, std::string busy_reply)
    : shared_(std::make_shared<Shared>(io, std::move(name), std::move(limits), std::move(on_accept),
                                       std::move(busy_reply))) {}

ListenerSet::~ListenerSet() { close(); }

ListenerSet::Prepared ListenerSet::prepare(const std::vector<ListenAddress>& addresses) {
  Prepared prepared;
  for (const auto& address : addresses) {
    std::shared_ptr<Listener> kept;
    {
      std::lock_guard lock(mutex_);
      for (const auto& listener : active_)
        if (listener->requested == address && listener->is_open()) kept = listener;
    }
    if (!kept) {
      kept = shared_->bind(address);  // throws; `prepared` then closes what it bound
      prepared.fresh_.push_back(kept);
    }
    prepared.listeners_.push_back(std::move(kept));
  }
  return prepared;
}

void ListenerSet::commit(Prepared prepared) {
  std::vector<std::shared_ptr<Listener>> started;
  for (const auto& listener : prepared.fresh_)
    if (shared_->put_in_service(*listener)) started.push_back(listener);
  std::vector<std::shared_ptr<Listener>> retired;
  {
    std::lock_guard lock(mutex_);
    for (const auto& old : active_)
      if (std::find(prepared.listeners_.begin(), prepared.listeners_.end(), old) == prepared.listeners_.end())
        retired.push_back(old);
    active_.clear();
    for (const auto& listener : prepared.listeners_)
      if (listener->is_open()) active_.push_back(listener);
  }
  prepared.fresh_.clear();
  prepared.listeners_.clear();
  for (const auto& old : retired) old->remove_socket_file();
  // One step on the strand: the old listeners stop before the new ones accept.
  asio::post(shared_->strand, [shared = shared_, retired = std::move(retired), started = std::move(started)] {
    for (const auto& old : retired) old->close();
    for (const auto& listener : started) Shared::accept_next(shared, listener);
  });
}

void ListenerSet::close() {
  std::vector<std::shared_ptr<Listener>> listeners;
  {
    std::lock_guard lock(mutex_);
    listeners.swap(active_);
  }
  if (listeners.empty()) return;
  for (const auto& listener : listeners) listener->remove_socket_file();
  asio::post(shared_->strand, [listeners] {
    for (const auto& listener : listeners) listener->close();
  });
}

std::vector<ListenAddress> ListenerSet::addresses() const {
  std::lock_guard lock(mutex_);
  std::vector<ListenAddress> out;
  for (const auto& listener : active_) out.push_back(listener->bound);
  return out;
}

std::vector<tcp::endpoint> ListenerSet::tcp_endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& address : addresses())
    if (address.transport != Transport::Unix) out.push_back(address.endpoint);
  return out;
}

uint64_t ListenerSet::accept_failures() const { return shared_->failures.load(); }

}  // namespace stsd::http
