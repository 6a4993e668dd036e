// The bucket table's arithmetic with seconds chosen by the test: `rate` answers per
// bucket and second, a whole refill at each new second and no more, late threads counted
// in the current second, keys sharing a slot sharing its budget, exact counts under
// concurrent spending.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bucket_table.h"

using stsd::rrl::BucketTable;
using stsd::rrl::Spend;

namespace {

std::span<const uint8_t> bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Spends `count` answers at `second`; returns how many passed.
uint32_t passed(BucketTable& table, uint64_t key, uint32_t second, uint32_t rate, uint32_t count) {
  uint32_t out = 0;
  for (uint32_t i = 0; i < count; ++i) out += table.spend(key, second, rate).limited ? 0 : 1;
  return out;
}

TEST(BucketTable, RateAnswersPassEachSecondThenEachIsNumberedOverTheRate) {
  BucketTable table(1024, 7);
  const uint64_t key = table.hash(bytes("client"));
  for (uint32_t i = 0; i < 5; ++i) EXPECT_FALSE(table.spend(key, 100, 5).limited) << i;
  for (uint32_t over = 1; over <= 4; ++over) {
    const Spend spend = table.spend(key, 100, 5);
    EXPECT_TRUE(spend.limited);
    EXPECT_EQ(spend.over_rate, over);
  }
}

TEST(BucketTable, ANewSecondRefillsWholeButIdleSecondsDoNotAccumulate) {
  struct Step {
    uint32_t second;
    uint32_t asked;
    uint32_t passed;
  };
  const Step steps[] = {
      {10, 8, 5},   // a fresh bucket holds one second's worth
      {11, 8, 5},   // refilled whole, the debt of second 10 forgotten
      {11, 1, 0},   // still second 11
      {20, 12, 5},  // nine idle seconds: still one second's worth, no burst saved up
      {21, 3, 3},   // under the rate
      {22, 5, 5},   // the unused 2 of second 21 are not carried over
  };
  BucketTable table(64, 1);
  const uint64_t key = table.hash(bytes("k"));
  for (const auto& step : steps)
    EXPECT_EQ(passed(table, key, step.second, 5, step.asked), step.passed) << "second " << step.second;
}

TEST(BucketTable, AnAnswerFromAnEarlierSecondCountsInTheBucketsSecond) {
  // A worker may take a query that arrived just before another worker's: it counts in the
  // later second the bucket is in, and never moves the bucket back.
  BucketTable table(64, 1);
  const uint64_t key = table.hash(bytes("k"));
  EXPECT_EQ(passed(table, key, 50, 3, 2), 2u);
  EXPECT_FALSE(table.spend(key, 49, 3).limited);
  EXPECT_TRUE(table.spend(key, 50, 3).limited);
  EXPECT_EQ(passed(table, key, 51, 3, 3), 3u);
}

TEST(BucketTable, KeysHaveTheirOwnBucketsUnlessTheyShareASlot) {
  BucketTable large(BucketTable::kDefaultSize, 99);
  const uint64_t a = large.hash(bytes("a")), b = large.hash(bytes("b"));
  EXPECT_EQ(passed(large, a, 5, 2, 3), 2u);
  EXPECT_EQ(passed(large, b, 5, 2, 3), 2u);

  BucketTable one_slot(1, 99);  // every key on one slot: one budget for all
  EXPECT_EQ(passed(one_slot, a, 5, 2, 1) + passed(one_slot, b, 5, 2, 3), 2u);
}

TEST(BucketTable, HashDependsOnEveryOctetTheLengthAndTheSeed) {
  BucketTable table(16, 42);
  std::string key(40, 'x');
  std::set<uint64_t> seen{table.hash(bytes(key))};
  for (size_t i = 0; i < key.size(); ++i) {
    std::string changed = key;
    changed[i] ^= 1;
    EXPECT_TRUE(seen.insert(table.hash(bytes(changed))).second) << "octet " << i;
  }
  for (size_t length = 0; length < key.size(); ++length)
    EXPECT_TRUE(seen.insert(table.hash(bytes(key.substr(0, length)))).second) << "length " << length;
  EXPECT_TRUE(seen.insert(table.hash(bytes(std::string(8, '\0')))).second);
  EXPECT_TRUE(seen.insert(table.hash(bytes(std::string(7, '\0')))).second);
  EXPECT_EQ(table.hash(bytes(key)), table.hash(bytes(key)));
  EXPECT_NE(BucketTable(16, 43).hash(bytes(key)), table.hash(bytes(key)));
}

TEST(BucketTable, KeysSpreadOverTheSlots) {
  // 20000 keys into 1000 slots: every slot used, none far over the mean of 20.
  BucketTable table(1000, 5);
  std::vector<int> per_slot(1000);
  for (int i = 0; i < 20000; ++i) {
    const std::string key = "192.0.2." + std::to_string(i);
    ++per_slot[table.slot(table.hash(bytes(key)))];
  }
  for (size_t slot = 0; slot < per_slot.size(); ++slot) {
    EXPECT_GT(per_slot[slot], 0) << slot;
    EXPECT_LT(per_slot[slot], 50) << slot;
  }
}

TEST(BucketTable, ConcurrentSpendingLetsExactlyTheRateThrough) {
  BucketTable table(16, 3);
  const uint64_t key = table.hash(bytes("flood"));
  constexpr uint32_t kRate = 1000;
  std::atomic<uint32_t> through{0}, numbered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        const Spend spend = table.spend(key, 777, kRate);
        if (spend.limited)
          numbered.fetch_add(1);
        else
          through.fetch_add(1);
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(through.load(), kRate);
  EXPECT_EQ(numbered.load(), 4u * 5000 - kRate);
  // The numbering over the rate went on without a gap.
  EXPECT_EQ(table.spend(key, 777, kRate).over_rate, 4u * 5000 - kRate + 1);
}

}  // namespace
