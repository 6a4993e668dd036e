#pragma once
// Caps the number of policy fetches in flight (`max_concurrent_probes`). Used only on the
// confirmer's io_context thread, so it needs no lock.
#include <cstddef>
#include <deque>
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace stsd::confirm {

class ProbeLimiter {
 public:
  ProbeLimiter(boost::asio::io_context& io, size_t capacity) : io_(io), capacity_(capacity) {}
  boost::asio::awaitable<void> acquire();
  void release();
  void set_capacity(size_t capacity);
  size_t in_flight() const { return in_flight_; }

 private:
  boost::asio::io_context& io_;
  size_t capacity_;
  size_t in_flight_ = 0;
  std::deque<boost::asio::steady_timer*> waiters_;
};

}  // namespace stsd::confirm
