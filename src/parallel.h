#pragma once
// Bulk work over [0, n) in two halves at once: the second half on a thread of its own,
// the first on the caller's. Only for requests large enough to pay for a thread (tens of
// microseconds): an import request of 20,000 rows, on a machine whose second core is idle
// or compacting. The work must touch nothing the other half writes.
#include <cstddef>
#include <future>
#include <system_error>

namespace stsd {

// Calls work(begin, end) for [0, n): once when n < min_for_thread (or no thread can be
// had), else for both halves at once. An exception of either half is rethrown (the
// first half's first), once both are done.
template <class Work>
void in_two_halves(size_t n, size_t min_for_thread, Work&& work) {
  if (n < min_for_thread) return work(size_t{0}, n);
  const size_t half = n / 2;
  std::future<void> second;
  try {
    second = std::async(std::launch::async, [&work, half, n] { work(half, n); });
  } catch (const std::system_error&) {
    return work(size_t{0}, n);
  }
  try {
    work(size_t{0}, half);
  } catch (...) {
    second.wait();
    throw;
  }
  second.get();
}

}  // namespace stsd
