#include "heap.h"

#include <malloc.h>

namespace stsd::heap {

void keep_freed_buffers() {
  constexpr int kLargestKeptBlock = 64 << 20;
  mallopt(M_MMAP_THRESHOLD, kLargestKeptBlock);
  mallopt(M_TRIM_THRESHOLD, kLargestKeptBlock);
}

void release_free_memory() { malloc_trim(0); }

}  // namespace stsd::heap
