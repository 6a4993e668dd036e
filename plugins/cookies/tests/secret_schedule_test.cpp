// Which secrets make and accept cookies: the configured pair, and the rotating schedule
// (a secret per period, the previous one still accepted, RFC 9018 §5).
#include <gtest/gtest.h>

#include <thread>

#include "cookie_test_support.h"
#include "secret_schedule.h"

namespace stsd::cookies {
namespace {

using namespace std::chrono;
using test::key_from_hex;

Clock::time_point at(int64_t unix_seconds) { return Clock::time_point(seconds(unix_seconds)); }

TEST(FixedSchedule, FirstMakesSecondIsAccepted) {
  const SipKey first = key_from_hex("445536bcd2513298075a5d379663c962");
  const SipKey second = key_from_hex("dd3bdf9344b678b185a6f5cb60fca715");
  const auto one = SecretSchedule::fixed(first, nullptr).at(at(1'700'000'000));
  EXPECT_EQ(one.current, first);
  EXPECT_FALSE(one.has_previous);
  const auto two = SecretSchedule::fixed(first, &second);
  EXPECT_FALSE(two.rotates());
  for (int64_t t : {0LL, 1'700'000'000LL, 4'000'000'000LL}) {
    const auto secrets = two.at(at(t));
    EXPECT_EQ(secrets.current, first);
    EXPECT_TRUE(secrets.has_previous);
    EXPECT_EQ(secrets.previous, second);
  }
}

TEST(RotatingSchedule, PeriodsCountFromTheEpoch) {
  const auto schedule = SecretSchedule::rotating(key_from_hex("000102030405060708090a0b0c0d0e0f"), seconds(600));
  EXPECT_TRUE(schedule.rotates());
  EXPECT_EQ(schedule.period_of(at(0)), 0);
  EXPECT_EQ(schedule.period_of(at(599)), 0);
  EXPECT_EQ(schedule.period_of(at(600)), 1);
  EXPECT_EQ(schedule.period_of(at(1'700'000'123)), 1'700'000'123 / 600);
  EXPECT_EQ(schedule.period_of(at(-1)), -1);
  EXPECT_EQ(schedule.period_of(at(-600)), -1);
  EXPECT_EQ(schedule.period_of(at(-601)), -2);
}

// A period's secret makes cookies during it and is accepted during the next one; two
// periods later it is gone.
TEST(RotatingSchedule, PreviousPeriodOverlaps) {
  const auto schedule = SecretSchedule::rotating(key_from_hex("000102030405060708090a0b0c0d0e0f"), hours(26));
  const int64_t start = 1'700'006'400 / 93600 * 93600;  // a period boundary
  const auto first = schedule.at(at(start));
  const auto same = schedule.at(at(start + 93599));
  const auto next = schedule.at(at(start + 93600));
  const auto after = schedule.at(at(start + 2 * 93600));
  EXPECT_EQ(first.current, same.current);
  EXPECT_EQ(first.previous, same.previous);
  EXPECT_TRUE(next.has_previous);
  EXPECT_EQ(next.previous, first.current);
  EXPECT_NE(next.current, first.current);
  EXPECT_EQ(after.previous, next.current);
  EXPECT_NE(after.current, first.current);
  EXPECT_NE(after.previous, first.current);
}

// Reloads and server blocks share the master: equal masters give equal secrets, others
// unrelated ones.
TEST(RotatingSchedule, SecretsFollowTheMaster) {
  const SipKey master = key_from_hex("000102030405060708090a0b0c0d0e0f");
  const auto a = SecretSchedule::rotating(master, seconds(3600));
  const auto b = SecretSchedule::rotating(master, seconds(3600));
  const auto c = SecretSchedule::rotating(key_from_hex("100102030405060708090a0b0c0d0e0f"), seconds(3600));
  const auto now = at(1'700'000'000);
  EXPECT_EQ(a.at(now).current, b.at(now).current);
  EXPECT_NE(a.at(now).current, c.at(now).current);
  EXPECT_NE(a.period_secret(7), a.period_secret(8));
  EXPECT_NE(a.period_secret(7).k0, a.period_secret(7).k1);
}

// The per-thread cache never hands one schedule's secrets to another, nor a stale period.
TEST(RotatingSchedule, ThreadCacheIsPerScheduleAndPeriod) {
  const auto a = SecretSchedule::rotating(key_from_hex("000102030405060708090a0b0c0d0e0f"), seconds(60));
  const auto c = SecretSchedule::rotating(key_from_hex("100102030405060708090a0b0c0d0e0f"), seconds(60));
  const int64_t t = 1'700'000'000;
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(a.at(at(t)).current, a.period_secret(t / 60));
    EXPECT_EQ(c.at(at(t)).current, c.period_secret(t / 60));
    EXPECT_EQ(a.at(at(t + 60)).current, a.period_secret(t / 60 + 1));
    EXPECT_EQ(a.at(at(t)).current, a.period_secret(t / 60));
  }
  std::thread other([&] { EXPECT_EQ(c.at(at(t + 120)).previous, c.period_secret(t / 60 + 1)); });
  other.join();
}

}  // namespace
}  // namespace stsd::cookies
