#pragma once
// Counts the global operator new while a test asks, to show that a path allocates nothing
// (the rule of the query path). Include it in exactly ONE source file of a test binary:
// it replaces the global operator new and delete for the whole binary.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace stsd::test {

inline std::atomic<bool> counting_allocations{false};
inline std::atomic<size_t> allocations_counted{0};

// Runs `body` and returns how many times it called operator new.
template <class Body>
size_t allocations_during(Body&& body) {
  allocations_counted = 0;
  counting_allocations = true;
  body();
  counting_allocations = false;
  return allocations_counted.load();
}

// Whether the counting operator new below is the one in use (a test that counted
// nothing because another definition won would prove nothing): a vector of 16 ints
// allocates twice, the vector and its elements.
inline bool allocation_counter_works() {
  std::vector<int>* probe = nullptr;
  const size_t counted = allocations_during([&] { probe = new std::vector<int>(16); });
  delete probe;
  return counted == 2;
}

}  // namespace stsd::test

void* operator new(std::size_t size) {
  if (stsd::test::counting_allocations.load(std::memory_order_relaxed))
    stsd::test::allocations_counted.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
