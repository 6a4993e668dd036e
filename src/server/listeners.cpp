#include "server/listeners.h"

#include <stdexcept>
#include <string>

#include <boost/asio/post.hpp>

#include "net/address.h"

namespace stsd {

Worker::Worker(std::vector<std::shared_ptr<ChainSlot>> slots, const ListenerSettings& settings,
               std::atomic<size_t>& tcp_connections)
    : slots_(std::move(slots)), settings_(settings), tcp_(io_, slots_, settings, tcp_connections) {}

Worker::~Worker() = default;

void Worker::bind(const std::vector<Endpoint>& endpoints) {
  for (const auto& e : endpoints) {
    try {
      udp_.emplace_back(io_, e.address, slots_[e.block], settings_);
      tcp_.bind({e.address.address(), e.address.port()}, e.block);
    } catch (const boost::system::system_error& error) {
      throw std::runtime_error("cannot listen on " + net::endpoint_text(e.address.address(), e.address.port()) + ": " +
                               error.code().message());
    }
  }
}

void Worker::run() {
  for (auto& l : udp_) udp_threads_.emplace_back([this, &l] { l.serve(udp_stopping_); });
  tcp_.start();
  io_.run();
  for (auto& t : udp_threads_) t.join();
  udp_threads_.clear();
}

void Worker::stop() {
  // A UDP thread finishes the burst it holds; wake() ends a wait in recvmmsg.
  udp_stopping_.store(true, std::memory_order_relaxed);
  for (auto& l : udp_) l.wake();
  boost::asio::post(io_, [this] { tcp_.stop(); });
}

}  // namespace stsd
