// in_two_halves (src/parallel.h): every index once, in two halves at once above the
// threshold (one on another thread), all here below it; an exception of either half
// reaches the caller once both halves are done.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "parallel.h"

namespace stsd {
namespace {

TEST(InTwoHalves, EveryIndexOnceAndTheSecondHalfOnAnotherThreadAboveTheThreshold) {
  for (const size_t n : {0u, 1u, 7u, 999u, 1000u, 4097u}) {
    std::vector<int> seen(n, 0);
    std::vector<std::thread::id> by(n);
    in_two_halves(n, 1000, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) ++seen[i], by[i] = std::this_thread::get_id();
    });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << n << " " << i;
    if (n == 0) continue;
    EXPECT_EQ(by.front(), std::this_thread::get_id()) << n;
    if (n < 1000)
      EXPECT_EQ(by.back(), std::this_thread::get_id()) << n << ": below the threshold, all here";
    else
      EXPECT_NE(by.back(), std::this_thread::get_id()) << n << ": the second half on a thread of its own";
  }
}

TEST(InTwoHalves, AnExceptionOfEitherHalfReachesTheCallerAfterBothAreDone) {
  for (const size_t failing : {0u, 1u}) {
    std::atomic<int> done{0};
    try {
      in_two_halves(10, 2, [&](size_t begin, size_t) {
        const size_t half = begin == 0 ? 0 : 1;
        if (half != failing) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ++done;
        if (half == failing) throw std::runtime_error("half " + std::to_string(half));
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "half " + std::to_string(failing));
    }
    EXPECT_EQ(done.load(), 2) << "the other half was waited for";
  }
}

}  // namespace
}  // namespace stsd
