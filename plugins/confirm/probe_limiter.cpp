#include "probe_limiter.h"

#include <algorithm>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace stsd::confirm {

namespace asio = boost::asio;

asio::awaitable<void> ProbeLimiter::acquire() {
  while (in_flight_ >= capacity_) {
    asio::steady_timer timer(io_, asio::steady_timer::time_point::max());
    waiters_.push_back(&timer);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // release() removed us from waiters_ before cancelling the timer.
  }
  ++in_flight_;
}

void ProbeLimiter::release() {
  if (in_flight_ > 0) --in_flight_;
  if (!waiters_.empty()) {
    auto* next = waiters_.front();
    waiters_.pop_front();
    next->cancel();
  }
}

void ProbeLimiter::set_capacity(size_t capacity) {
  capacity_ = std::max<size_t>(1, capacity);
  // Wake as many waiters as there are free slots now.
  size_t free = capacity_ > in_flight_ ? capacity_ - in_flight_ : 0;
  while (free-- > 0 && !waiters_.empty()) {
    auto* next = waiters_.front();
    waiters_.pop_front();
    next->cancel();
  }
}

}  // namespace stsd::confirm
