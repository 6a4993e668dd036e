#include "heap.h"

#include <malloc.h>

namespace stsd::heap {

void configure() {
  constexpr int kLargestKeptBlock = 64 << 20;
  mallopt(M_MMAP_THRESHOLD, kLargestKeptBlock);
  mallopt(M_TRIM_THRESHOLD, kLargestKeptBlock);
  mallopt(M_MXFAST, 0);
}

void release_free_memory() { malloc_trim(0); }

}  // namespace stsd::heap
