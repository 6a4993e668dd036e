#include "notify_queue.h"

#include <gtest/gtest.h>

namespace stsd::transfer {
namespace {

dns::Name name(const std::string& text) { return *dns::Name::from_text(text); }

TEST(NotifyQueue, AZoneQueuedAgainKeepsItsPlaceAtTheNewestSerial) {
  NotifyQueue queue(10);
  queue.push(name("a.example."), 1);
  queue.push(name("b.example."), 1);
  queue.push(name("A.EXAMPLE."), 2);  // names compare case-insensitively
  queue.push(name("a.example."), 3);
  EXPECT_EQ(queue.size(), 2u);
  auto first = queue.pop();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->apex.to_text(), "a.example.");
  EXPECT_EQ(first->serial, 3u);
  auto second = queue.pop();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->apex.to_text(), "b.example.");
  EXPECT_EQ(second->serial, 1u);
  EXPECT_FALSE(queue.pop());
  // Popped, then changed again: queued anew.
  queue.push(name("a.example."), 4);
  EXPECT_EQ(queue.size(), 1u);
}

TEST(NotifyQueue, BeyondTheLimitTheOldestIsDropped) {
  NotifyQueue queue(3);
  size_t dropped = 0;
  for (int i = 0; i < 5; ++i) dropped += queue.push(name("z" + std::to_string(i) + ".example."), 1);
  EXPECT_EQ(dropped, 2u);
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.pop()->apex.to_text(), "z2.example.");
  // A zone already queued is updated without a drop, even when the queue is full.
  EXPECT_EQ(queue.push(name("z3.example."), 2), 0u);
  EXPECT_EQ(queue.push(name("z5.example."), 1), 0u);
  EXPECT_EQ(queue.push(name("z6.example."), 1), 1u);
  // A lower limit applies at the next push; what is queued stays until then.
  queue.set_limit(1);
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.push(name("z7.example."), 1), 3u);
  EXPECT_EQ(queue.pop()->apex.to_text(), "z7.example.");
  EXPECT_TRUE(queue.empty());
}

}  // namespace
}  // namespace stsd::transfer
