#pragma once
// The served index's shards (store/served_index.h) as blocks: the layout that addresses
// them (linear hashing) and one shard's memory, with the helpers that build one. Internal
// to served_index.cpp (publishing changes) and served_index_builder.cpp (start-up).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "store/served_entry.h"
#include "store/served_index.h"

namespace stsd::store::served_shard {

using namespace served_entry;


// A layout is level << 32 | split: shards [0, 2^level + split) are in use; a name's shard
// is the low `level` bits of its hash, or the low `level + 1` bits when those fall below
// `split` (that shard has been split at this level already).
constexpr uint64_t make_layout(unsigned level, uint64_t split) noexcept { return uint64_t{level} << 32 | split; }
inline unsigned level_of(uint64_t layout) noexcept { return static_cast<unsigned>(layout >> 32); }
inline uint64_t split_of(uint64_t layout) noexcept { return layout & 0xffffffffu; }
inline size_t shards_in(uint64_t layout) noexcept { return (size_t{1} << level_of(layout)) + split_of(layout); }
inline uint64_t next_layout(uint64_t layout) noexcept {
  const unsigned level = level_of(layout);
  const uint64_t split = split_of(layout) + 1;
  return split == (uint64_t{1} << level) ? make_layout(level + 1, 0) : make_layout(level, split);
}
inline size_t address(uint64_t hash, uint64_t layout) noexcept {
  const unsigned level = level_of(layout);
  uint64_t shard = hash & ((uint64_t{1} << level) - 1);
  if (shard < split_of(layout)) shard = hash & ((uint64_t{2} << level) - 1);
  return shard;
}

}  // namespace stsd::store::served_shard

namespace stsd::store {

// One immutable shard: `slots` 32-bit slots (8-bit hash tag << 24 | entry offset in 8-byte
// words + 1; 0 = empty; linear probing from hash bits 32.., load <= 3/4), then the arena
// of entries. The shard address takes the hash's low bits, the probe its high ones.
struct ServedIndex::Shard {
  uint32_t mask = 0;  // slots - 1
  uint32_t entries = 0;
  uint32_t arena_bytes = 0;
  std::unique_ptr<std::byte[]> data;

  const std::byte* arena() const noexcept { return data.get() + served_entry::round8((size_t{mask} + 1) * 4); }

  const std::byte* find(std::span<const uint8_t> key, uint64_t hash) const noexcept {
    using namespace served_entry;
    const uint32_t tag = static_cast<uint32_t>(hash >> 56);
    const std::byte* base = arena();
    for (size_t i = (hash >> 32) & mask;; i = (i + 1) & mask) {
      uint32_t slot;
      std::memcpy(&slot, data.get() + i * 4, 4);
      if (slot == 0) return nullptr;
      if ((slot >> 24) != tag) continue;
      const std::byte* e = base + size_t{(slot & 0xffffff) - 1} * 8;
      if (u8_at(e, 0) == key.size() && std::memcmp(e + name_offset(e), key.data(), key.size()) == 0) return e;
    }
  }
};

}  // namespace stsd::store

namespace stsd::store::served_shard {

using Shard = ServedIndex::Shard;

// A shard with room for `count` entries of `arena_bytes` in all, its slots empty.
std::shared_ptr<Shard> allocate_shard(size_t arena_bytes, size_t count);
inline std::byte* arena_of(Shard& shard) noexcept { return const_cast<std::byte*>(shard.arena()); }
// Fills the free slot for the entry of name hash `hash` at `offset` in the arena.
void add_slot(Shard& shard, uint64_t hash, size_t offset) noexcept;
// Fills the slots of a shard whose arena holds its entries.
void index_entries(Shard& shard) noexcept;
// The shared shard of no entries.
std::shared_ptr<const Shard> empty_shard();

// A new shard of `count` complete entries (`arena_bytes` in all) that `fill` writes, packed.
template <class Fill>
std::shared_ptr<const Shard> build_shard(size_t arena_bytes, size_t count, Fill&& fill) {
  auto shard = allocate_shard(arena_bytes, count);
  fill(arena_of(*shard));
  index_entries(*shard);
  return shard;
}

// Calls f(entry) for every entry of `shard`.
template <class F>
void for_each_entry(const Shard& shard, F&& f) {
  const std::byte* e = shard.arena();
  for (uint32_t i = 0; i < shard.entries; ++i, e += size(e)) f(e);
}

}  // namespace stsd::store::served_shard
