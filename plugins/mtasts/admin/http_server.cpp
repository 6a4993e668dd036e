#include <utility>   // Boost 1.74's asio/awaitable.hpp uses std::exchange without including it

#include "http_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <list>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "logging.h"

namespace stsd::mtasts {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local_stream = asio::local::stream_protocol;
using asio::ip::tcp;

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

// A request the parser rejected (worth a 400), as opposed to a connection that ended.
bool is_malformed(const boost::system::error_code& error) {
  static const auto& http_category = http::make_error_code(http::error::bad_method).category();
  return error.category() == http_category && error != http::error::end_of_stream &&
         error != http::error::partial_message;
}

std::string errno_text(int error) { return std::strerror(error); }

// True when something accepts connections on the unix socket at `path`.
bool socket_is_served(const std::filesystem::path& path) {
  asio::io_context io;
  local_stream::socket probe(io);
  boost::system::error_code error;
  probe.connect(local_stream::endpoint(path.native()), error);
  return !error;
}

}  // namespace

struct AdminHttpServer::Impl {
  AdminConfig config;
  Handler handler;
  HttpLimits limits;
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  // Touched only on the server thread once it runs.
  std::shared_ptr<local_stream::acceptor> unix_acceptor;
  std::filesystem::path unix_path;
  struct stat unix_stat {};
  std::shared_ptr<tcp::acceptor> tcp_acceptor;
  std::string token;
  bool stopping = false;
  bool destroying = false;
  struct Connection {
    std::function<void()> close;
    bool busy = false;
  };
  std::list<Connection> connections;
  std::optional<asio::steady_timer> grace_timer;
  std::atomic<uint16_t> bound_tcp_port{0};

  Impl(AdminConfig c, Handler h, HttpLimits l) : config(std::move(c)), handler(std::move(h)), limits(l) {}

  ~Impl() {
    destroying = true;
    // Every I/O object (and the work guard) must go before the io_context it uses.
    work.reset();
    grace_timer.reset();
    unix_acceptor.reset();
    tcp_acceptor.reset();
    io.reset();   // destroys suspended sessions while the members they use still exist
  }

  // --- binding -----------------------------------------------------------------------

  std::shared_ptr<local_stream::acceptor> bind_unix(const std::filesystem::path& path) {
    const std::string where = "admin socket " + path.native();
    std::error_code fs_error;
    if (path.has_parent_path()) {
      std::filesystem::create_directories(path.parent_path(), fs_error);
      if (fs_error) throw std::runtime_error(where + ": cannot create its folder: " + fs_error.message());
    }
    struct stat existing {};
    if (::lstat(path.c_str(), &existing) == 0) {
      if (!S_ISSOCK(existing.st_mode)) {
        throw std::runtime_error(where + ": the path exists and is not a socket; refusing to replace it");
      }
      if (socket_is_served(path)) {
        throw std::runtime_error(where + ": another process is serving it (is stsd already running?)");
      }
      // A socket left behind by a process that was killed: replaced by the rename below.
    }
    // Bound under a temporary name, restricted to the owner, then renamed into place:
    // the socket never exists at its real path with a wider mode, and a client never
    // sees a path that accepts no connections.
    const std::filesystem::path temporary = path.native() + kSocketTempSuffix;
    if (::lstat(temporary.c_str(), &existing) == 0 && S_ISSOCK(existing.st_mode)) ::unlink(temporary.c_str());
    auto acceptor = std::make_shared<local_stream::acceptor>(*io);
    boost::system::error_code error;
    acceptor->open(local_stream(), error);
    if (!error) acceptor->bind(local_stream::endpoint(temporary.native()), error);
    if (error) throw std::runtime_error(where + ": cannot bind " + temporary.native() + ": " + error.message());
    if (::chmod(temporary.c_str(), 0600) != 0) {
      int saved = errno;
      ::unlink(temporary.c_str());
      throw std::runtime_error(where + ": cannot set mode 0600: " + errno_text(saved));
    }
    acceptor->listen(asio::socket_base::max_listen_connections, error);
    if (error) {
      ::unlink(temporary.c_str());
      throw std::runtime_error(where + ": cannot listen: " + error.message());
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
      int saved = errno;
      ::unlink(temporary.c_str());
      throw std::runtime_error(where + ": cannot move the socket into place: " + errno_text(saved));
    }
    return acceptor;
  }

  std::shared_ptr<tcp::acceptor> bind_tcp(const tcp::endpoint& endpoint, const std::string& text) {
    auto acceptor = std::make_shared<tcp::acceptor>(*io);
    boost::system::error_code error;
    acceptor->open(endpoint.protocol(), error);
    if (!error) acceptor->set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor->bind(endpoint, error);
    if (!error) acceptor->listen(asio::socket_base::max_listen_connections, error);
    if (error) throw std::runtime_error("admin listen " + text + ": " + error.message());
    return acceptor;
  }

  // Removes the socket file only if it is still the one this process created (a new
  // stsd may have replaced it meanwhile).
  void remove_unix_socket() {
    if (unix_path.empty()) return;
    struct stat now {};
    if (::lstat(unix_path.c_str(), &now) == 0 && now.st_ino == unix_stat.st_ino && now.st_dev == unix_stat.st_dev) {
      ::unlink(unix_path.c_str());
    }
    unix_path.clear();
  }

  // Binds what `next` asks for that is not bound yet; then closes what it no longer has.
  void apply(AdminConfig next) {
    std::shared_ptr<local_stream::acceptor> new_unix;
    std::shared_ptr<tcp::acceptor> new_tcp;
    bool unix_changed = next.socket != unix_path || !unix_acceptor;
    bool tcp_changed = next.listen != config.listen || (next.listen && !tcp_acceptor);
    if (unix_changed && !next.socket.empty()) new_unix = bind_unix(next.socket);
    if (tcp_changed && next.listen) {
      try {
        new_tcp = bind_tcp(*next.listen, next.listen_text);
      } catch (...) {
        if (new_unix) {
          new_unix->close();
          ::unlink(next.socket.c_str());
        }
        throw;
      }
    }
    if (unix_changed) {
      if (unix_acceptor) unix_acceptor->close();
      remove_unix_socket();
      unix_acceptor = new_unix;
      if (new_unix) {
        unix_path = next.socket;
        ::lstat(unix_path.c_str(), &unix_stat);
        asio::co_spawn(*io, accept_loop<local_stream>(new_unix, false), asio::detached);
      }
    }
    if (tcp_changed) {
      if (tcp_acceptor) tcp_acceptor->close();
      tcp_acceptor = new_tcp;
      bound_tcp_port = new_tcp ? new_tcp->local_endpoint().port() : 0;
      if (new_tcp) {
        if (!next.listen->address().is_loopback()) {
          log::f(log::Level::Warning,
                 "admin: listening on %s, which is not a loopback address; the admin API speaks plain HTTP, "
                 "so the bearer token crosses the network unencrypted",
                 next.listen_text.c_str());
        }
        asio::co_spawn(*io, accept_loop<tcp>(new_tcp, true), asio::detached);
      }
    }
    token = next.token;
    config = std::move(next);
  }

  // --- serving -----------------------------------------------------------------------

  template <class Protocol>
  asio::awaitable<void> accept_loop(std::shared_ptr<typename Protocol::acceptor> acceptor, bool tcp_listener) {
    for (;;) {
      boost::system::error_code error;
      typename Protocol::socket socket = co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, error));
      if (!acceptor->is_open() || error == asio::error::operation_aborted) co_return;
      if (error) {
        // e.g. out of file descriptors: pause instead of spinning.
        log::f(log::Level::Warning, "admin: accept failed: %s", error.message().c_str());
        asio::steady_timer pause(*io, std::chrono::milliseconds(200));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, error));
        continue;
      }
      if (stopping) continue;   // socket closes when it goes out of scope
      asio::co_spawn(*io, session<Protocol>(std::move(socket), tcp_listener), asio::detached);
    }
  }

  static http::response<http::string_body> make_response(unsigned status, const nlohmann::json& body,
                                                         unsigned version, bool keep_alive) {
    http::response<http::string_body> response{static_cast<http::status>(status), version};
    response.set(http::field::server, "stsd-admin");
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    // Replace invalid UTF-8 echoed from a request instead of failing to serialize.
    response.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    response.keep_alive(keep_alive);
    response.prepare_payload();
    return response;
  }

  // Built outside co_await expressions: GCC 12 mishandles initializer lists that live
  // across a suspension point.
  static http::response<http::string_body> error_response(unsigned status, const std::string& message,
                                                          unsigned version) {
    nlohmann::json body = nlohmann::json::object();
    body["error"] = message;
    return make_response(status, body, version, false);
  }
  // The answer to a request that could not be read, if it deserves one (a connection
  // that simply ended or timed out gets none).
  std::optional<http::response<http::string_body>> read_error_response(const boost::system::error_code& error,
                                                                       unsigned version) const {
    if (error == http::error::body_limit) {
      return error_response(413, "request body larger than " + std::to_string(limits.max_body_bytes) +
                                     " bytes; send smaller batches", version);
    }
    if (error == http::error::header_limit) {
      return error_response(431, "request headers larger than " + std::to_string(limits.max_header_bytes) + " bytes",
                            version);
    }
    if (is_malformed(error)) return error_response(400, "malformed HTTP request: " + error.message(), version);
    return std::nullopt;
  }
  static nlohmann::json unsupported_media_type() {
    nlohmann::json body = nlohmann::json::object();
    body["error"] = "send the body as Content-Type: application/json";
    return body;
  }

  template <class Protocol>
  asio::awaitable<void> session(typename Protocol::socket socket, bool tcp_listener) {
    beast::basic_stream<Protocol> stream(std::move(socket));
    auto connection = connections.insert(connections.end(), Connection{});
    connection->close = [&stream] {
      boost::system::error_code ignored;
      stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
      stream.socket().close(ignored);
    };
    struct Release {
      Impl* impl;
      std::list<Connection>::iterator it;
      ~Release() {
        if (impl->destroying) return;   // the whole list goes away with the server
        impl->connections.erase(it);
        if (impl->stopping && impl->connections.empty()) impl->finish_stop();
      }
    } release{this, connection};

    if (connections.size() > limits.max_connections) {
      stream.expires_after(std::chrono::seconds(5));
      auto response = error_response(503, "too many admin connections; try again", 11);
      boost::system::error_code ignored;
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ignored));
      co_return;
    }

    beast::flat_buffer buffer;
    for (;;) {
      connection->busy = false;
      if (stopping) co_return;
      boost::system::error_code error;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(limits.max_header_bytes));
      parser.body_limit(limits.max_body_bytes);
      stream.expires_after(limits.idle_timeout);
      co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, error));
      if (error) {
        // Beast checks Content-Length against the body limit while reading the header.
        if (auto response = read_error_response(error, 11)) co_await reply(stream, std::move(*response));
        co_return;
      }
      connection->busy = true;
      auto& header = parser.get();
      const unsigned version = header.version();

      if (tcp_listener) {
        // RFC 6750 §2.1. The unix socket is protected by its file mode instead.
        beast::string_view authorization = header[http::field::authorization];
        constexpr beast::string_view scheme = "Bearer ";
        bool ok = authorization.size() > scheme.size() &&
                  beast::iequals(authorization.substr(0, scheme.size()), scheme) &&
                  constant_time_equal(std::string_view(authorization.data() + scheme.size(),
                                                       authorization.size() - scheme.size()),
                                      token);
        if (!ok) {
          auto response =
              error_response(401, "missing or wrong bearer token (send Authorization: Bearer <token>)", version);
          response.set(http::field::www_authenticate, "Bearer realm=\"stsd-admin\"");
          co_await reply(stream, std::move(response));
          co_return;
        }
      }
      if (beast::iequals(header[http::field::expect], "100-continue")) {
        http::response<http::empty_body> proceed{http::status::continue_, version};
        co_await http::async_write(stream, proceed, asio::redirect_error(asio::use_awaitable, error));
        if (error) co_return;
      }
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, error));
      if (error) {
        if (auto response = read_error_response(error, version)) co_await reply(stream, std::move(*response));
        co_return;
      }
      auto request = parser.release();
      bool keep_alive = request.keep_alive() && !stopping;
      ApiRequest api{std::string(request.method_string()), std::string(request.target()), std::move(request.body())};
      ApiResponse result;
      beast::string_view content_type = request[http::field::content_type];
      if (!api.body.empty() && !beast::iequals(content_type.substr(0, content_type.find(';')), "application/json")) {
        result.status = 415;
        result.body = unsupported_media_type();
      } else {
        result = handler(api);
      }
      if (api.method != "GET" || result.status >= 400) {
        log::f(result.status >= 500 ? log::Level::Error : log::Level::Info, "admin: %s %s -> %u", api.method.c_str(),
               api.target.c_str(), result.status);
      }
      keep_alive = keep_alive && !stopping;
      auto response = make_response(result.status, result.body, version, keep_alive);
      if (!co_await reply(stream, std::move(response))) co_return;
      if (!keep_alive) co_return;
    }
  }

  template <class Stream, class Response>
  asio::awaitable<bool> reply(Stream& stream, Response response) {
    boost::system::error_code error;
    stream.expires_after(limits.idle_timeout);
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, error));
    if (error) co_return false;
    if (!response.keep_alive()) {
      boost::system::error_code ignored;
      stream.socket().shutdown(asio::socket_base::shutdown_send, ignored);
    }
    co_return true;
  }

  // --- stopping ------------------------------------------------------------------------

  void begin_stop() {
    stopping = true;
    if (unix_acceptor) unix_acceptor->close();
    if (tcp_acceptor) tcp_acceptor->close();
    remove_unix_socket();
    for (auto& connection : connections) {
      if (!connection.busy) connection.close();
    }
    work.reset();
    if (connections.empty()) {
      finish_stop();
      return;
    }
    grace_timer.emplace(*io, limits.stop_grace);
    grace_timer->async_wait([this](boost::system::error_code error) {
      if (!error) io->stop();
    });
  }

  void finish_stop() {
    if (grace_timer) grace_timer->cancel();
    io->stop();
  }
};

AdminHttpServer::AdminHttpServer(AdminConfig config, Handler handler, HttpLimits limits)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(handler), limits)) {}

AdminHttpServer::~AdminHttpServer() { stop(); }

void AdminHttpServer::start() {
  if (impl_->thread.joinable()) return;
  AdminConfig config = impl_->config;
  impl_->config = AdminConfig{};
  impl_->apply(std::move(config));   // binds on this thread; throws before any thread starts
  impl_->work.emplace(impl_->io->get_executor());
  impl_->thread = std::thread([impl = impl_.get()] {
    for (;;) {
      try {
        impl->io->run();
        return;
      } catch (const std::exception& error) {
        // A session must never take the admin API down with it.
        log::f(log::Level::Error, "admin: %s", error.what());
      }
    }
  });
}

void AdminHttpServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  asio::post(*impl_->io, [impl = impl_.get()] { impl->begin_stop(); });
  impl_->thread.join();
}

void AdminHttpServer::reconfigure(AdminConfig config) {
  if (!impl_->thread.joinable()) {
    impl_->config = std::move(config);
    return;
  }
  std::promise<void> done;
  auto result = done.get_future();
  asio::post(*impl_->io, [impl = impl_.get(), &config, &done] {
    try {
      impl->apply(std::move(config));
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  result.get();
}

uint16_t AdminHttpServer::tcp_port() const { return impl_->bound_tcp_port.load(); }

}  // namespace stsd::mtasts
