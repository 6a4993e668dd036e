#pragma once
// Helpers of the NOTIFY tests. A secondary: a real UDP socket on 127.0.0.1 that records every
// message it receives and answers as told (or not at all).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "environment.h"

namespace stsd::transfer::test {

struct Received {
  std::chrono::steady_clock::time_point at;
  std::vector<uint8_t> packet;
  uint16_t id() const { return static_cast<uint16_t>(packet[0] << 8 | packet[1]); }
  uint16_t flags() const { return static_cast<uint16_t>(packet[2] << 8 | packet[3]); }
  std::string qname() const;  // "example.com."; "" when unreadable
};

class TestSecondary {
 public:
  // What to send back for a received message; nullopt: stay silent.
  using Responder = std::function<std::optional<std::vector<uint8_t>>(const std::vector<uint8_t>& request)>;

  explicit TestSecondary(Responder responder);
  ~TestSecondary();
  TestSecondary(const TestSecondary&) = delete;
  TestSecondary& operator=(const TestSecondary&) = delete;

  boost::asio::ip::udp::endpoint endpoint() const { return endpoint_; }
  std::vector<Received> received() const;
  size_t count() const;
  // Waits until `count() >= n` or `timeout` passes; returns count().
  size_t wait_for(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void run();

  Responder responder_;
  int fd_ = -1;
  boost::asio::ip::udp::endpoint endpoint_;
  mutable std::mutex mutex_;
  std::vector<Received> received_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Answers: the request's header with QR set and `rcode`, and its question.
TestSecondary::Responder answer_with(uint16_t rcode);
TestSecondary::Responder never_answer();

// The value of one sample in a scrape of the process's metrics (0 when absent), e.g.
// `stsd_notify_answered_total{target="127.0.0.1:5301"}`.
double metric_value(Environment& env, const std::string& sample);
// Polls `condition` every 10 ms until it holds or `timeout` passes; its last value.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace stsd::transfer::test
