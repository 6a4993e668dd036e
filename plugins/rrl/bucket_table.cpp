#include "bucket_table.h"

#include <cstring>

namespace stsd::rrl {
namespace {

constexpr unsigned kCountBits = 32;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;

// The finalizer of SplitMix64: a bijection in which every input bit reaches every output
// bit. Chained over the key's words under a random seed it spreads keys evenly; the
// table needs no more (no attacker sees a hash, and a found collision only shares a
// bucket), so a cryptographic hash would cost the query path for nothing.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

BucketTable::BucketTable(size_t size, uint64_t seed)
    : size_(size == 0 ? 1 : size), seed_(seed), buckets_(new std::atomic<uint64_t>[size_]) {
  // Zero is a valid empty bucket: second 0, nothing counted.
  for (size_t i = 0; i < size_; ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

uint64_t BucketTable::hash(std::span<const uint8_t> key) const {
  uint64_t h = mix(seed_ ^ key.size());
  size_t at = 0;
  for (; at + 8 <= key.size(); at += 8) {
    uint64_t word;
    std::memcpy(&word, key.data() + at, 8);
    h = mix(h ^ word);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, key.data() + at, key.size() - at);
  return mix(h ^ tail ^ 0x80);  // the marker tells a short tail from zero octets
}

size_t BucketTable::slot(uint64_t key_hash) const {
  // Lemire's multiply-shift: a uniform slot in [0, size) without a division.
  __extension__ using Wide = unsigned __int128;
  return static_cast<size_t>((static_cast<Wide>(key_hash) * size_) >> 64);
}

Spend BucketTable::spend(uint64_t key_hash, uint32_t second, uint32_t rate) {
  std::atomic<uint64_t>& cell = buckets_[slot(key_hash)];
  uint64_t seen = cell.load(std::memory_order_relaxed);
  uint64_t counted;
  for (;;) {
    if (static_cast<uint32_t>(seen >> kCountBits) >= second) {
      // This second (or one a moment later, from a thread whose query arrived later):
      // count here. Other threads only move the bucket to later seconds, so the count
      // lands in a second no earlier than this answer's. Four billion answers in one
      // second, the most the count holds, are far beyond any server.
      counted = (cell.fetch_add(1, std::memory_order_relaxed) & kCountMask) + 1;
      break;
    }
    // A new second: the bucket is full again, and this answer is its first.
    const uint64_t fresh = (uint64_t{second} << kCountBits) | 1;
    if (cell.compare_exchange_weak(seen, fresh, std::memory_order_relaxed)) {
      counted = 1;
      break;
    }
  }
  if (counted <= rate) return {};
  return {true, static_cast<uint32_t>(counted - rate)};
}

}  // namespace stsd::rrl
