#include "store/served_shard.h"

#include "store/errors.h"

namespace stsd::store::served_shard {

std::shared_ptr<Shard> allocate_shard(size_t arena_bytes, size_t count) {
  if (arena_bytes / 8 >= 0xffffff) throw StoreError("a served-index shard outgrew 128 MiB");
  auto shard = std::make_shared<Shard>();
  size_t slots = 2;
  while (slots < count + count / 3 + 1) slots *= 2;
  const size_t slot_bytes = round8(slots * 4);
  shard->mask = static_cast<uint32_t>(slots - 1);
  shard->entries = static_cast<uint32_t>(count);
  shard->arena_bytes = static_cast<uint32_t>(arena_bytes);
  shard->data.reset(new std::byte[slot_bytes + arena_bytes]);
  std::memset(shard->data.get(), 0, slot_bytes);
  return shard;
}

void add_slot(Shard& shard, uint64_t hash, size_t offset) noexcept {
  const uint32_t slot = static_cast<uint32_t>(hash >> 56) << 24 | static_cast<uint32_t>(offset / 8 + 1);
  size_t i = (hash >> 32) & shard.mask;
  for (;; i = (i + 1) & shard.mask) {
    uint32_t used;
    std::memcpy(&used, shard.data.get() + i * 4, 4);
    if (used == 0) break;
  }
  std::memcpy(shard.data.get() + i * 4, &slot, 4);
}

void index_entries(Shard& shard) noexcept {
  const std::byte* arena = shard.arena();
  size_t offset = 0;
  for (size_t n = 0; n < shard.entries; ++n) {
    const std::byte* e = arena + offset;
    add_slot(shard, hash_name(name(e)), offset);
    offset += size(e);
  }
}

std::shared_ptr<const Shard> empty_shard() {
  static const std::shared_ptr<const Shard> empty = build_shard(0, 0, [](std::byte*) {});
  return empty;
}

}  // namespace stsd::store::served_shard
