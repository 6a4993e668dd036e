// ConnectionLimits: caps in total and per client, IPv6 clients per /64, the unix
// socket's own pool, and the token-bucket request rate.
#include <gtest/gtest.h>

#include "http/connection_limits.h"

namespace stsd::http {
namespace {

using Settings = ConnectionLimits::Settings;

TEST(ConnectionLimits, CapsConnectionsInTotalAndPerClient) {
  ConnectionLimits limits(
      Settings{.max_connections = 3, .max_connections_per_client = 2, .requests_per_second = 0, .burst = 1});
  const auto a = boost::asio::ip::make_address("192.0.2.1");
  const auto b = boost::asio::ip::make_address("192.0.2.2");
  ConnectionLimits::Refusal why{};
  auto a1 = limits.admit(a);
  auto a2 = limits.admit(a);
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(limits.admit(a, &why));
  EXPECT_EQ(why, ConnectionLimits::Refusal::TooManyFromClient);
  auto b1 = limits.admit(b);
  ASSERT_TRUE(b1);
  EXPECT_FALSE(limits.admit(b, &why));
  EXPECT_EQ(why, ConnectionLimits::Refusal::TooManyConnections);
  EXPECT_EQ(limits.open_connections(), 3u);
  a1.reset();  // a closed connection frees its slot
  auto b2 = limits.admit(b);
  EXPECT_TRUE(b2);
  EXPECT_EQ(limits.open_connections(), 3u);
}

TEST(ConnectionLimits, TheUnixSocketHasAPoolNoNetworkClientCanTake) {
  ConnectionLimits limits(
      Settings{.max_connections = 2, .max_connections_per_client = 2, .requests_per_second = 0, .burst = 1});
  const auto client = boost::asio::ip::make_address("192.0.2.1");
  auto n1 = limits.admit(client), n2 = limits.admit(client);
  ASSERT_TRUE(n1 && n2);
  EXPECT_FALSE(limits.admit(boost::asio::ip::make_address("192.0.2.2")));
  auto l1 = limits.admit_local(), l2 = limits.admit_local();
  EXPECT_TRUE(l1 && l2);
  EXPECT_FALSE(limits.admit_local());  // the same cap, counted apart
  l1.reset();
  EXPECT_TRUE(limits.admit_local());
}

TEST(ConnectionLimits, IPv6ClientsCountPerSlash64) {
  ConnectionLimits limits(
      Settings{.max_connections = 100, .max_connections_per_client = 1, .requests_per_second = 0, .burst = 1});
  auto first = limits.admit(boost::asio::ip::make_address("2001:db8:1:2::1"));
  ASSERT_TRUE(first);
  EXPECT_FALSE(limits.admit(boost::asio::ip::make_address("2001:db8:1:2::ffff")));  // same /64
  EXPECT_TRUE(limits.admit(boost::asio::ip::make_address("2001:db8:1:3::1")));      // another /64
  // An IPv4-mapped address is the IPv4 client.
  auto v4 = limits.admit(boost::asio::ip::make_address("192.0.2.9"));
  ASSERT_TRUE(v4);
  EXPECT_FALSE(limits.admit(boost::asio::ip::make_address("::ffff:192.0.2.9")));
}

TEST(ConnectionLimits, RequestRateIsATokenBucket) {
  ConnectionLimits limits(
      Settings{.max_connections = 10, .max_connections_per_client = 10, .requests_per_second = 2, .burst = 3});
  const auto client = boost::asio::ip::make_address("198.51.100.7");
  const auto other = boost::asio::ip::make_address("198.51.100.8");
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  EXPECT_TRUE(limits.allow_request(client, t0));
  EXPECT_TRUE(limits.allow_request(client, t0));
  EXPECT_TRUE(limits.allow_request(client, t0));
  EXPECT_FALSE(limits.allow_request(client, t0));  // the burst is spent
  EXPECT_TRUE(limits.allow_request(other, t0));    // others are not affected
  EXPECT_FALSE(limits.allow_request(client, t0 + std::chrono::milliseconds(400)));
  EXPECT_TRUE(limits.allow_request(client, t0 + std::chrono::milliseconds(500)));  // 2/s refill
  EXPECT_FALSE(limits.allow_request(client, t0 + std::chrono::milliseconds(500)));
  // A long pause refills to the burst, not beyond.
  const auto later = t0 + std::chrono::seconds(60);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limits.allow_request(client, later));
  EXPECT_FALSE(limits.allow_request(client, later));
}

TEST(ConnectionLimits, ZeroRateMeansUnlimited) {
  ConnectionLimits limits(
      Settings{.max_connections = 10, .max_connections_per_client = 10, .requests_per_second = 0, .burst = 1});
  const auto client = boost::asio::ip::make_address("198.51.100.7");
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limits.allow_request(client, std::chrono::steady_clock::now()));
}

TEST(ConnectionLimits, ForgetsIdleClients) {
  ConnectionLimits limits(
      Settings{.max_connections = 10, .max_connections_per_client = 10, .requests_per_second = 100, .burst = 1});
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  for (unsigned i = 0; i < 5000; ++i) {
    auto address = boost::asio::ip::make_address_v4(0x0a000000u + i);
    limits.allow_request(address, t0 + std::chrono::seconds(i));
  }
  EXPECT_LT(limits.tracked_clients(), 4200u);
}

}  // namespace
}  // namespace stsd::http
