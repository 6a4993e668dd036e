#pragma once
// Raw clients for the HTTP layer's tests: bytes in, bytes out, over TCP or a unix
// socket, each step bounded so that a hanging server fails the test instead of the run.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/time.h>

namespace stsd::http::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using local_stream = asio::local::stream_protocol;

// A folder under /tmp with a short name (unix socket paths are limited to 107 bytes).
class SocketFolder {
 public:
  SocketFolder() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::path("/tmp") / ("stsd-h-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~SocketFolder() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A connected socket with a receive timeout; reads until the server closes or the
// timeout passes.
template <class Protocol>
class RawClient {
 public:
  explicit RawClient(const typename Protocol::endpoint& endpoint,
                     std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : socket_(io_) {
    socket_.connect(endpoint);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::string& bytes) {
    boost::system::error_code ignored;
    asio::write(socket_, asio::buffer(bytes), ignored);
  }
  // Everything until the server closes (or the timeout).
  std::string read_all() {
    std::string answer;
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), chunk, sizeof chunk, 0);
      if (n <= 0) break;
      answer.append(chunk, static_cast<size_t>(n));
    }
    return answer;
  }
  // Reads until `marker` has been seen (or the server closes, or the timeout).
  std::string read_until(const std::string& marker) {
    char chunk[4096];
    while (buffer_.find(marker) == std::string::npos) {
      const ssize_t n = ::recv(socket_.native_handle(), chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    std::string out;
    out.swap(buffer_);
    return out;
  }
  // True when the server closes the connection within the receive timeout.
  bool closed_by_server() {
    char byte;
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), &byte, 1, 0);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }

 private:
  asio::io_context io_;
  typename Protocol::socket socket_;
  std::string buffer_;
};

using TcpClient = RawClient<tcp>;
using UnixClient = RawClient<local_stream>;

inline std::string exchange(const tcp::endpoint& endpoint, const std::string& request) {
  TcpClient client(endpoint);
  client.send(request);
  return client.read_all();
}

inline std::string exchange(const std::filesystem::path& socket, const std::string& request) {
  UnixClient client(local_stream::endpoint(socket.native()));
  client.send(request);
  return client.read_all();
}

inline bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace stsd::http::testing
