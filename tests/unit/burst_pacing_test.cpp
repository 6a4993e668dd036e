// When a UDP thread waits for bursts (server/burst_pacing.h).
#include "server/burst_pacing.h"

#include <gtest/gtest.h>

namespace stsd {
namespace {

TEST(BurstPacing, WithoutABurstSettingEveryWaitReturnsAtTheFirstDatagram) {
  BurstPacing single(1, true), no_wait(32, false);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(single.wait_for_burst());
    EXPECT_FALSE(no_wait.wait_for_burst());
  }
}

TEST(BurstPacing, BurstsThatFillKeepBurstWaits) {
  BurstPacing pacing(32, true);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(pacing.wait_for_burst());
    // A quarter by the deadline, all 32, or now and then (not kShortWaitsToStop in a row) almost none.
    pacing.burst_wait_ended(i % 3 == 0 ? 8 : i % 3 == 1 ? 32 : 1);
  }
}

TEST(BurstPacing, ABurstWaitEndingNearlyEmptyStopsThemUntilAProbeFindsABusySocket) {
  BurstPacing pacing(32, true);
  for (unsigned i = 1; i < BurstPacing::kShortWaitsToStop; ++i) {
    ASSERT_TRUE(pacing.wait_for_burst());
    pacing.burst_wait_ended(7);  // under a quarter of 32 by the deadline
    EXPECT_TRUE(pacing.bursting()) << "not yet: " << i << " in a row";
  }
  ASSERT_TRUE(pacing.wait_for_burst());
  pacing.burst_wait_ended(7);
  EXPECT_FALSE(pacing.bursting());
  unsigned waits = 0;
  while (!pacing.wait_for_burst()) ++waits;
  EXPECT_EQ(waits, BurstPacing::kProbeEvery - 1);
  pacing.burst_wait_ended(15);  // a probe gathering under half of 32: stays off
  waits = 0;
  while (!pacing.wait_for_burst()) ++waits;
  EXPECT_EQ(waits, BurstPacing::kProbeEvery - 1);
  pacing.burst_wait_ended(16);  // half: on again
  EXPECT_TRUE(pacing.bursting());
  EXPECT_TRUE(pacing.wait_for_burst());
  EXPECT_TRUE(pacing.wait_for_burst());
}

}  // namespace
}  // namespace stsd
