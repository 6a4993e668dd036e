#pragma once
// The rate limiter's memory: a fixed table of token buckets shared by every worker
// thread, updated with one atomic read-modify-write per answer (no lock, no allocation).
//
// A bucket is one std::atomic<uint64_t>: the steady-clock second it counts (upper 32
// bits) and the answers counted in that second (lower 32 bits). It is a token bucket that
// holds one second's worth of tokens (`rate`) and is refilled whole at each new second:
// at most `rate` answers leave per bucket in each second of the clock, so a flood of any
// length T seconds gets at most rate × (T + 1) answers through.
//
// Keys are hashed (keyed with a random seed, so a client cannot aim its key at another
// client's bucket) onto the table's slots. Keys that land on one slot share it, as in
// Knot: the table's memory is bounded whatever the number of clients, and a key that
// shares a slot can only be limited sooner, never let through more. A slot keeps no
// other memory than the current second's count, so a slot last used by another key in
// an earlier second is simply a fresh bucket.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace stsd::rrl {

// Where one answer stands in its bucket's second.
struct Spend {
  bool limited = false;
  // Among the answers of this bucket and second over the rate: 1 for the first, 2 for
  // the next, ... (0 when not limited). Slip picks every Nth of these.
  uint32_t over_rate = 0;
};

class BucketTable {
 public:
  // Knot's default (`rrl` module, table-size): a prime, about 3 MiB of buckets.
  static constexpr size_t kDefaultSize = 393241;
  static constexpr size_t kMaxSize = size_t{1} << 24;

  // `seed` keys the hash; the plugin draws it at random.
  BucketTable(size_t size, uint64_t seed);

  // The hash of a bucket key (the bytes the plugin builds from prefix, class and name).
  uint64_t hash(std::span<const uint8_t> key) const;

  // Counts one answer in the bucket of `key_hash` during steady-clock second `second`;
  // limited when the bucket already counted `rate` answers in that second.
  Spend spend(uint64_t key_hash, uint32_t second, uint32_t rate);

  // The slot a hash lands on, in [0, size).
  size_t slot(uint64_t key_hash) const;
  size_t size() const { return size_; }

 private:
  const size_t size_;
  const uint64_t seed_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
};

}  // namespace stsd::rrl
