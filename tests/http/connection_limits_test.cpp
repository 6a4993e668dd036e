// ConnectionLimits: the pending and the established pool with their caps in total and
// per client, the oldest pending connection making room for a new one, IPv6 clients per
// /64, the unix socket's own pool, and the token-bucket request rate.
#include <gtest/gtest.h>

#include <vector>

#include "http/connection_limits.h"

namespace stsd::http {
namespace {

using Settings = ConnectionLimits::Settings;
using Refusal = ConnectionLimits::Refusal;
using Ticket = ConnectionLimits::Ticket;

const auto kA = boost::asio::ip::make_address("192.0.2.1");
const auto kB = boost::asio::ip::make_address("192.0.2.2");

Ticket admitted(ConnectionLimits& limits, const boost::asio::ip::address& client) {
  auto admission = limits.admit(client);
  if (!admission.ticket) throw std::runtime_error("not admitted");
  return std::move(*admission.ticket);
}

Ticket established(ConnectionLimits& limits, const boost::asio::ip::address& client) {
  Ticket ticket = admitted(limits, client);
  if (ticket.establish()) throw std::runtime_error("not established");
  return ticket;
}

TEST(ConnectionLimits, CapsEstablishedConnectionsInTotalAndPerClient) {
  ConnectionLimits limits(Settings{.max_connections = 3, .max_connections_per_client = 2, .max_pending = 10});
  auto a1 = established(limits, kA);
  auto a2 = established(limits, kA);
  auto a3 = admitted(limits, kA);  // a new connection is pending: not counted against the cap yet
  EXPECT_EQ(a3.establish(), Refusal::TooManyFromClient);
  EXPECT_TRUE(a3.pending());
  auto b1 = established(limits, kB);
  auto b2 = admitted(limits, kB);
  EXPECT_EQ(b2.establish(), Refusal::TooManyConnections);
  EXPECT_EQ(limits.open_connections(), 5u);
  EXPECT_EQ(limits.pending_connections(), 2u);
  { auto closed = std::move(a1); }  // a closed connection frees its slot
  EXPECT_EQ(b2.establish(), std::nullopt);
  EXPECT_FALSE(b2.pending());
  EXPECT_EQ(limits.pending_connections(), 1u);
}

TEST(ConnectionLimits, PendingConnectionsHaveACapOfTheirOwnPerClient) {
  ConnectionLimits limits(Settings{.max_connections = 10, .max_pending = 10, .max_pending_per_client = 2});
  auto a1 = admitted(limits, kA);
  auto a2 = admitted(limits, kA);
  auto refused = limits.admit(kA);
  EXPECT_FALSE(refused.ticket);
  EXPECT_EQ(refused.refusal, Refusal::TooManyPendingFromClient);
  EXPECT_TRUE(limits.admit(kB).ticket);  // another client is not affected
  ASSERT_EQ(a1.establish(), std::nullopt);
  EXPECT_TRUE(limits.admit(kA).ticket);  // an established connection no longer counts as pending
}

TEST(ConnectionLimits, AFullPendingPoolClosesItsOldestConnectionForANewOne) {
  ConnectionLimits limits(Settings{.max_connections = 10, .max_pending = 3});
  std::vector<int> closed;
  std::vector<Ticket> tickets;
  for (int i = 0; i < 3; ++i) {
    tickets.push_back(admitted(limits, boost::asio::ip::make_address_v4(0x0a000001u + i)));
    tickets.back().on_evicted([&closed, i] { closed.push_back(i); });
  }
  ASSERT_EQ(tickets[1].establish(), std::nullopt);  // established: never evicted
  auto fourth = limits.admit(kA);
  ASSERT_TRUE(fourth.ticket);
  EXPECT_FALSE(fourth.evicted_oldest);  // room was made by the one that was established
  auto fifth = limits.admit(kB);
  ASSERT_TRUE(fifth.ticket);
  EXPECT_TRUE(fifth.evicted_oldest);
  EXPECT_EQ(closed, std::vector<int>{0});
  EXPECT_EQ(limits.pending_connections(), 3u);
  EXPECT_EQ(tickets[0].establish(), Refusal::TooManyConnections);  // it is being closed
  tickets.clear();  // the evicted ticket's release counts nothing twice
  EXPECT_EQ(limits.pending_connections(), 2u);
  EXPECT_EQ(limits.open_connections(), 2u);
}

TEST(ConnectionLimits, AConnectionEvictedBeforeItsCloseWasKnownIsClosedWhenItIs) {
  ConnectionLimits limits(Settings{.max_pending = 1});
  auto first = admitted(limits, kA);
  auto second = admitted(limits, kB);  // evicts `first` before it could say how to close
  bool closed = false;
  first.on_evicted([&] { closed = true; });
  EXPECT_TRUE(closed);
  bool second_closed = false;
  second.on_evicted([&] { second_closed = true; });
  EXPECT_FALSE(second_closed);
}

TEST(ConnectionLimits, TheUnixSocketHasAPoolNoNetworkClientCanTake) {
  ConnectionLimits limits(Settings{.max_connections = 2, .max_connections_per_client = 2, .max_pending = 2});
  auto n1 = established(limits, kA), n2 = established(limits, kA);
  EXPECT_EQ(admitted(limits, kB).establish(), Refusal::TooManyConnections);
  auto p1 = admitted(limits, kB), p2 = admitted(limits, kB);  // the pending pool full, too
  auto l1 = limits.admit_local(), l2 = limits.admit_local();
  ASSERT_TRUE(l1.ticket && l2.ticket);
  EXPECT_FALSE(l1.ticket->pending());  // the socket's file mode authenticated it
  auto l3 = limits.admit_local();
  EXPECT_FALSE(l3.ticket);  // the same cap, counted apart
  EXPECT_EQ(l3.refusal, Refusal::TooManyConnections);
  l1.ticket.reset();
  EXPECT_TRUE(limits.admit_local().ticket);
}

TEST(ConnectionLimits, IPv6ClientsCountPerSlash64) {
  ConnectionLimits limits(Settings{.max_connections = 100, .max_connections_per_client = 1, .max_pending = 100});
  auto first = established(limits, boost::asio::ip::make_address("2001:db8:1:2::1"));
  EXPECT_EQ(admitted(limits, boost::asio::ip::make_address("2001:db8:1:2::ffff")).establish(),
            Refusal::TooManyFromClient);                                                              // same /64
  EXPECT_EQ(admitted(limits, boost::asio::ip::make_address("2001:db8:1:3::1")).establish(), std::nullopt);  // another
  // An IPv4-mapped address is the IPv4 client.
  auto v4 = established(limits, boost::asio::ip::make_address("192.0.2.9"));
  EXPECT_EQ(admitted(limits, boost::asio::ip::make_address("::ffff:192.0.2.9")).establish(),
            Refusal::TooManyFromClient);
}

TEST(ConnectionLimits, RequestRateIsATokenBucket) {
  ConnectionLimits limits(Settings{.requests_per_second = 2, .burst = 3});
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
  ConnectionLimits limits(Settings{.requests_per_second = 0, .burst = 1});
  const auto client = boost::asio::ip::make_address("198.51.100.7");
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limits.allow_request(client, std::chrono::steady_clock::now()));
}

TEST(ConnectionLimits, ForgetsIdleClients) {
  ConnectionLimits limits(Settings{.requests_per_second = 100, .burst = 1});
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  for (unsigned i = 0; i < 5000; ++i) {
    auto address = boost::asio::ip::make_address_v4(0x0a000000u + i);
    limits.allow_request(address, t0 + std::chrono::seconds(i));
  }
  EXPECT_LT(limits.tracked_clients(), 4200u);
}

}  // namespace
}  // namespace stsd::http
