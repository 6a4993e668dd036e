#include "token_bucket.h"

#include <gtest/gtest.h>

namespace stsd::transfer {
namespace {

using namespace std::chrono_literals;

// How many sends the bucket allows in `span`, trying every millisecond.
int sends_within(unsigned rate, std::chrono::milliseconds span) {
  const TokenBucket::Clock::time_point start{};
  TokenBucket bucket(start);
  bucket.configure(rate);
  int sent = 0;
  for (auto now = start; now < start + span; now += 1ms) {
    bucket.refill(now);
    while (bucket.ready()) {
      bucket.spend();
      ++sent;
    }
  }
  return sent;
}

TEST(TokenBucket, SendsAtTheRateWithBurstsOfATenth) {
  struct Case {
    unsigned rate;
    std::chrono::milliseconds span;
    int low, high;
  };
  for (const Case c : {Case{1000, 1000ms, 999, 1001}, Case{1000, 3000ms, 2999, 3001}, Case{10, 2000ms, 20, 21},
                       Case{1, 5000ms, 5, 5}}) {
    SCOPED_TRACE(std::to_string(c.rate) + "/s over " + std::to_string(c.span.count()) + " ms");
    const int sent = sends_within(c.rate, c.span);
    EXPECT_GE(sent, c.low);
    EXPECT_LE(sent, c.high);
  }
}

TEST(TokenBucket, AnOverdraftDelaysTheNextSend) {
  const TokenBucket::Clock::time_point start{};
  TokenBucket bucket(start);
  bucket.configure(100);  // one token every 10 ms, bursts of 10
  bucket.refill(start + 1s);
  for (int i = 0; i < 13; ++i) bucket.spend();  // 10 held, 3 overdrawn (one zone, several targets)
  EXPECT_FALSE(bucket.ready());
  const auto wait = std::chrono::duration<double, std::milli>(bucket.ready_at(start + 1s) - (start + 1s)).count();
  EXPECT_NEAR(wait, 40, 0.01) << "four tokens at 100/s";
  bucket.refill(start + 1s + 39ms);
  EXPECT_FALSE(bucket.ready());
  bucket.refill(start + 1s + 41ms);
  EXPECT_TRUE(bucket.ready());
}

}  // namespace
}  // namespace stsd::transfer
