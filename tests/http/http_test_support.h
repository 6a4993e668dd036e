#pragma once
// Raw clients for the HTTP layer's tests: bytes in, bytes out, over TCP or a unix
// socket, each step bounded so that a hanging server fails the test instead of the run.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

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
  // Everything until the server closes; nullopt when it kept the connection open past
  // the receive timeout.
  std::optional<std::string> read_until_closed() {
    std::string answer;
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), chunk, sizeof chunk, 0);
      if (n == 0) return answer;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
        return answer;  // a reset ends it too
      }
      answer.append(chunk, static_cast<size_t>(n));
    }
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

// How many lines start with "HTTP/1." (status lines; a body may hold more).
inline size_t status_lines(const std::string& text) {
  size_t count = starts_with(text, "HTTP/1.") ? 1 : 0;
  for (size_t at = text.find("\nHTTP/1."); at != std::string::npos; at = text.find("\nHTTP/1.", at + 1)) ++count;
  return count;
}

// Requests whose framing RFC 9112 §6 leaves ambiguous, each followed by the bytes of a
// second request, `GET /smuggled`, that a server misreading the framing would answer.
struct SmugglingCase {
  const char* name;
  std::string bytes;
};
inline std::vector<SmugglingCase> smuggling_cases() {
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string length = std::to_string(smuggled.size());
  auto request = [&](const std::string& line, const std::string& fields, const std::string& body) {
    return line + "\r\nHost: x\r\n" + fields + "\r\n" + body;
  };
  const std::string chunked_end = "0\r\n\r\n";
  return {
      {"get_xchunked", request("GET / HTTP/1.1", "Transfer-Encoding: xchunked\r\n", smuggled)},
      {"get_identity", request("GET / HTTP/1.1", "Transfer-Encoding: identity\r\n", smuggled)},
      {"get_gzip", request("GET / HTTP/1.1", "Transfer-Encoding: gzip\r\n", smuggled)},
      {"get_empty_coding", request("GET / HTTP/1.1", "Transfer-Encoding:\r\n", smuggled)},
      {"get_chunked", request("GET / HTTP/1.1", "Transfer-Encoding: chunked\r\n", chunked_end + smuggled)},
      {"get_length", request("GET / HTTP/1.1", "Content-Length: 5\r\n", "hello" + smuggled)},
      {"head_identity", request("HEAD / HTTP/1.1", "Transfer-Encoding: identity\r\n", smuggled)},
      {"head_length", request("HEAD / HTTP/1.1", "Content-Length: 5\r\n", "hello" + smuggled)},
      {"xchunked_and_length",
       request("POST / HTTP/1.1", "Transfer-Encoding: xchunked\r\nContent-Length: " + length + "\r\n", smuggled)},
      {"chunked_and_length",
       request("POST / HTTP/1.1", "Transfer-Encoding: chunked\r\nContent-Length: " + length + "\r\n",
               chunked_end + smuggled)},
      {"gzip_then_chunked", request("POST / HTTP/1.1", "Transfer-Encoding: gzip, chunked\r\n", chunked_end + smuggled)},
      {"chunked_then_gzip", request("POST / HTTP/1.1", "Transfer-Encoding: chunked, gzip\r\n", smuggled)},
      {"chunked_twice",
       request("POST / HTTP/1.1", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
               chunked_end + smuggled)},
      {"length_twice", request("POST / HTTP/1.1", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello" + smuggled)},
      {"length_list", request("POST / HTTP/1.1", "Content-Length: 5, 5\r\n", "hello" + smuggled)},
      {"http10_chunked",
       request("POST / HTTP/1.0", "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n", chunked_end + smuggled)},
  };
}

}  // namespace stsd::http::testing
