#include "store/served_index.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>

#include <sys/mman.h>

#include "store/errors.h"
#include "store/served_entry.h"

namespace stsd::store {

using namespace served_entry;

namespace {

// A layout is level << 32 | split: shards [0, 2^level + split) are in use; a name's shard
// is the low `level` bits of its hash, or the low `level + 1` bits when those fall below
// `split` (that shard has been split at this level already).
constexpr uint64_t make_layout(unsigned level, uint64_t split) noexcept { return uint64_t{level} << 32 | split; }
unsigned level_of(uint64_t layout) noexcept { return static_cast<unsigned>(layout >> 32); }
uint64_t split_of(uint64_t layout) noexcept { return layout & 0xffffffffu; }
size_t shards_in(uint64_t layout) noexcept { return (size_t{1} << level_of(layout)) + split_of(layout); }
uint64_t next_layout(uint64_t layout) noexcept {
  const unsigned level = level_of(layout);
  const uint64_t split = split_of(layout) + 1;
  return split == (uint64_t{1} << level) ? make_layout(level + 1, 0) : make_layout(level, split);
}
size_t address(uint64_t hash, uint64_t layout) noexcept {
  const unsigned level = level_of(layout);
  uint64_t shard = hash & ((uint64_t{1} << level) - 1);
  if (shard < split_of(layout)) shard = hash & ((uint64_t{2} << level) - 1);
  return shard;
}
}  // namespace

// One immutable shard: `slots` 32-bit slots (8-bit hash tag << 24 | entry offset in 8-byte
// words + 1; 0 = empty; linear probing from hash bits 32.., load <= 3/4), then the arena
// of entries. The shard address takes the hash's low bits, the probe its high ones.
struct ServedIndex::Shard {
  uint32_t mask = 0;  // slots - 1
  uint32_t entries = 0;
  uint32_t arena_bytes = 0;
  std::unique_ptr<std::byte[]> data;

  const std::byte* arena() const noexcept { return data.get() + round8((size_t{mask} + 1) * 4); }

  const std::byte* find(std::span<const uint8_t> key, uint64_t hash) const noexcept {
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

namespace {

using Shard = ServedIndex::Shard;

// A shard with room for `count` entries of `arena_bytes` in all, its slots empty.
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

std::byte* arena_of(Shard& shard) noexcept { return const_cast<std::byte*>(shard.arena()); }

// Fills the free slot for the entry of name hash `hash` at `offset` in the arena.
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

// Fills the slots of a shard whose arena holds its entries.
void index_entries(Shard& shard) noexcept {
  const std::byte* arena = shard.arena();
  size_t offset = 0;
  for (size_t n = 0; n < shard.entries; ++n) {
    const std::byte* e = arena + offset;
    add_slot(shard, hash_name(name(e)), offset);
    offset += size(e);
  }
}

// A new shard of `count` complete entries (`arena_bytes` in all) that `fill` writes, packed.
template <class Fill>
std::shared_ptr<const Shard> build_shard(size_t arena_bytes, size_t count, Fill&& fill) {
  auto shard = allocate_shard(arena_bytes, count);
  fill(arena_of(*shard));
  index_entries(*shard);
  return shard;
}

std::shared_ptr<const Shard> empty_shard() {
  static const std::shared_ptr<const Shard> empty = build_shard(0, 0, [](std::byte*) {});
  return empty;
}

// Calls f(entry) for every entry of `shard`.
template <class F>
void for_each_entry(const Shard& shard, F&& f) {
  const std::byte* e = shard.arena();
  for (uint32_t i = 0; i < shard.entries; ++i, e += size(e)) f(e);
}

}  // namespace

std::string wire_key(std::string_view domain) {
  uint8_t buf[256];
  const size_t n = wire_key_into(domain, buf);
  return std::string(reinterpret_cast<const char*>(buf), n);
}

// ---- ServedIndex: reads ----------------------------------------------------------------

ServedIndex::ServedIndex() : ServedIndex(ServedIndexShape{}) {}

ServedIndex::ServedIndex(ServedIndexShape shape) : shape_(shape), layout_(make_layout(shape.base_bits, 0)) {
  if (shape_.base_bits < 1 || shape_.base_bits > 24 || shape_.entries_per_shard < 1)
    throw StoreError("a served-index shape needs 1-24 base bits and at least one entry per shard");
  const size_t shards = size_t{1} << shape_.base_bits;
  segments_[0].reset(new Slot[shards]);
  auto empty = empty_shard();
  for (size_t i = 0; i < shards; ++i) segments_[0][i].store(empty, std::memory_order_relaxed);
}

ServedIndex::~ServedIndex() = default;

// Segment k >= 1 holds shards [2^base_bits << (k-1), 2^base_bits << k).
size_t ServedIndex::segment_of(size_t shard) const noexcept {
  return static_cast<size_t>(std::bit_width(shard >> shape_.base_bits));
}
size_t ServedIndex::segment_start(size_t segment) const noexcept {
  return segment == 0 ? 0 : (size_t{1} << shape_.base_bits) << (segment - 1);
}

ServedIndex::Slot& ServedIndex::slot(size_t shard) const noexcept {
  const size_t segment = segment_of(shard);
  return segments_[segment][shard - segment_start(segment)];
}

// The smallest layout with at most entries_per_shard entries per shard on average.
uint64_t ServedIndex::layout_for(size_t entries) const noexcept {
  const size_t per_shard = shape_.entries_per_shard;
  const size_t shards = std::max(size_t{1} << shape_.base_bits, (entries + per_shard - 1) / per_shard);
  const unsigned level = static_cast<unsigned>(std::bit_width(shards)) - 1;
  return make_layout(level, shards - (size_t{1} << level));
}

size_t ServedIndex::shard_count() const noexcept { return shards_in(layout_.load(std::memory_order_acquire)); }

std::pair<std::shared_ptr<const Shard>, const std::byte*> ServedIndex::lookup(
    std::span<const uint8_t> key) const noexcept {
  const uint64_t hash = hash_name(key);
  for (;;) {
    const uint64_t layout = layout_.load(std::memory_order_acquire);
    auto shard = slot(address(hash, layout)).load(std::memory_order_acquire);
    const std::byte* entry = shard->find(key, hash);
    // A split publishes the new layout before it replaces the shard it split (with the
    // half that stays): a miss in such a shard read under the older layout is retried.
    if (entry || layout_.load(std::memory_order_acquire) == layout) return {std::move(shard), entry};
  }
}

ServedView ServedIndex::find(std::span<const uint8_t> labels) const noexcept {
  auto [shard, entry] = lookup(labels);
  if (!entry || !is_domain(entry)) return {};
  return ServedView(std::shared_ptr<const void>(std::move(shard)), entry);
}

bool ServedIndex::is_ancestor(std::span<const uint8_t> labels) const noexcept {
  auto [shard, entry] = lookup(labels);
  return entry && ancestors(entry) > 0;
}

bool ServedIndex::contains(std::string_view domain) const noexcept {
  uint8_t key[256];
  const size_t n = wire_key_into(domain, key);
  if (n == 0) return false;
  auto [shard, entry] = lookup({key, n});
  return entry && is_domain(entry);
}

void ServedIndex::for_each(const std::function<void(const ServedView&)>& visit) const {
  // No split may start while the shards are walked (it would move entries behind or
  // ahead of the walk); one under way is waited for. Dekker's handshake with
  // split_while_overfull() over listings_ and splitting_ (sequentially consistent).
  listings_.fetch_add(1);
  struct Done {
    std::atomic<uint32_t>& listings;
    ~Done() { listings.fetch_sub(1); }
  } done{listings_};
  while (splitting_.load()) std::this_thread::yield();
  const size_t shards = shards_in(layout_.load(std::memory_order_acquire));
  for (size_t s = 0; s < shards; ++s) {
    auto shard = slot(s).load(std::memory_order_acquire);
    if (shard->entries == 0) continue;
    ServedView view(std::shared_ptr<const void>(std::move(shard)), nullptr);
    for_each_entry(*static_cast<const Shard*>(view.keep_.get()), [&](const std::byte* e) {
      if (!is_domain(e)) return;
      view.entry_ = e;
      visit(view);
    });
  }
}

// ---- ServedIndex: changes --------------------------------------------------------------

// One queued change of the names of a shard, as publish() sorts them.
struct ServedIndex::Change {
  size_t shard;
  std::string_view name;  // wire labels
  const Op* op;           // null: a change of the ancestor count only
  int64_t ancestor_delta;
};

void ServedIndex::queue(const std::string& domain, const Facts* facts) {
  ops_.push_back(facts ? Op{wire_key(domain), false, *facts} : Op{wire_key(domain), true, {}});
}

// Builds every shard with queued changes anew, once each; publish(Prepared) stores them
// (release order: a reader that sees the new shard sees its contents), then splits shards
// while the index holds more than entries_per_shard entries per shard. Whether a name is
// there already is read here, from the published state, off the writer's thread when a
// large write commits meanwhile.
ServedIndex::Prepared ServedIndex::prepare() const {
  const uint64_t layout = layout_.load(std::memory_order_relaxed);
  Prepared prepared;
  std::vector<Change> changes;
  changes.reserve(ops_.size() + 1);
  std::unordered_map<std::string, int64_t> ancestor_deltas;  // wire name -> change of its count
  for (const auto& op : ops_) {
    const auto name = as_bytes(op.name);
    const auto [shard, entry] = lookup(name);
    const bool present = entry && is_domain(entry);
    if (op.remove && !present) continue;  // nothing to remove
    const int64_t delta = op.remove ? -1 : present ? 0 : 1;
    changes.push_back({address(hash_name(name), layout), op.name, &op, 0});
    prepared.count_change += delta;
    if (delta != 0) for_each_ancestor(op.name, [&](std::string_view a) { ancestor_deltas[std::string(a)] += delta; });
  }
  for (const auto& [name, delta] : ancestor_deltas)
    if (delta != 0) changes.push_back({address(hash_name(as_bytes(name)), layout), name, nullptr, delta});
  // By shard, then by name; stable, so the changes of a name stay in queue order.
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    return a.shard != b.shard ? a.shard < b.shard : a.name < b.name;
  });
  std::vector<std::byte> scratch;
  for (size_t begin = 0; begin < changes.size();) {
    size_t end = begin + 1;
    while (end < changes.size() && changes[end].shard == changes[begin].shard) ++end;
    const size_t shard = changes[begin].shard;
    auto [rebuilt, count] = rebuilt_shard(shard, std::span(changes).subspan(begin, end - begin), scratch);
    prepared.entries_change +=
        static_cast<int64_t>(count) - static_cast<int64_t>(slot(shard).load(std::memory_order_relaxed)->entries);
    prepared.shards.emplace_back(shard, std::move(rebuilt));
    begin = end;
  }
  return prepared;
}

void ServedIndex::publish(Prepared prepared) {
  for (auto& [shard, block] : prepared.shards) slot(shard).store(std::move(block), std::memory_order_release);
  entries_ = static_cast<size_t>(static_cast<int64_t>(entries_) + prepared.entries_change);
  count_ = static_cast<size_t>(static_cast<int64_t>(count_) + prepared.count_change);
  ops_.clear();
  split_while_overfull();
}

void ServedIndex::discard() noexcept { ops_.clear(); }

// The shard with `changes` (sorted by name) applied: entries no change names are copied
// as they are; a name's last domain change wins and its ancestor changes add up.
std::pair<std::shared_ptr<const ServedIndex::Shard>, size_t> ServedIndex::rebuilt_shard(
    size_t shard, std::span<const Change> changes, std::vector<std::byte>& scratch) const {
  const auto old = slot(shard).load(std::memory_order_relaxed);  // only the writer stores
  if (auto patched = patched_shard(*old, changes, scratch)) return std::move(*patched);
  scratch.clear();
  size_t count = 0;
  // Applies the changes of the name at `first` to `old_entry` (null: none); returns the
  // index after that name's changes.
  const auto apply = [&](size_t first, const std::byte* old_entry) {
    const std::string_view key = changes[first].name;
    const Op* op = nullptr;
    int64_t delta = 0;
    size_t i = first;
    for (; i < changes.size() && changes[i].name == key; ++i) {
      if (changes[i].op) op = changes[i].op;
      delta += changes[i].ancestor_delta;
    }
    const bool domain = op ? !op->remove : old_entry && is_domain(old_entry);
    const int64_t counted = int64_t{old_entry ? ancestors(old_entry) : 0} + delta;
    const uint32_t below = counted > 0 ? static_cast<uint32_t>(counted) : 0;
    if (!domain && below == 0) return i;
    if (!op && old_entry && domain) {  // the domain as it was: its bytes, with the new count
      const size_t at = scratch.size();
      scratch.insert(scratch.end(), old_entry, old_entry + size(old_entry));
      set_ancestors(scratch.data() + at, below);
    } else {
      append(scratch, as_bytes(key), domain ? &op->facts : nullptr, below);
    }
    ++count;
    return i;
  };
  std::vector<bool> matched(changes.size(), false);
  for_each_entry(*old, [&](const std::byte* e) {
    const std::string_view key = as_text(name(e));
    const auto it = std::lower_bound(changes.begin(), changes.end(), key,
                                     [](const Change& c, std::string_view k) { return c.name < k; });
    if (it == changes.end() || it->name != key) {
      scratch.insert(scratch.end(), e, e + size(e));
      ++count;
      return;
    }
    matched[static_cast<size_t>(it - changes.begin())] = true;
    apply(static_cast<size_t>(it - changes.begin()), e);
  });
  for (size_t i = 0; i < changes.size();) {
    if (!matched[i]) {
      i = apply(i, nullptr);
      continue;
    }
    const std::string_view key = changes[i].name;
    while (i < changes.size() && changes[i].name == key) ++i;
  }
  auto rebuilt = count == 0 ? empty_shard() : build_shard(scratch.size(), count, [&](std::byte* out) {
    std::memcpy(out, scratch.data(), scratch.size());
  });
  return {std::move(rebuilt), count};
}

// Copying is most of the work of publishing an import: each request of 20,000 new domains
// touches about as many shards. Rebuilt entry by entry, each copied entry was looked up
// among the changes and its name hashed again for the slots; here the arena and the slots
// are copied as they are (the slots when their table keeps its size), the changed entries
// rewritten in place and the new names appended.
std::optional<std::pair<std::shared_ptr<const ServedIndex::Shard>, size_t>> ServedIndex::patched_shard(
    const Shard& old, std::span<const Change> changes, std::vector<std::byte>& scratch) {
  struct Patch {
    size_t offset;  // in the arena
    size_t from;    // in scratch; SIZE_MAX: only the ancestor count changes
    uint32_t below;
  };
  std::vector<Patch> patches;
  std::vector<std::pair<uint64_t, size_t>> added;  // (name hash, offset in scratch)
  scratch.clear();
  for (size_t i = 0; i < changes.size();) {
    const std::string_view key = changes[i].name;
    const Op* op = nullptr;
    int64_t delta = 0;
    for (; i < changes.size() && changes[i].name == key; ++i) {
      if (changes[i].op) op = changes[i].op;
      delta += changes[i].ancestor_delta;
    }
    const uint64_t hash = hash_name(as_bytes(key));
    const std::byte* old_entry = old.find(as_bytes(key), hash);
    const bool domain = op ? !op->remove : old_entry && is_domain(old_entry);
    const int64_t counted = int64_t{old_entry ? ancestors(old_entry) : 0} + delta;
    const uint32_t below = counted > 0 ? static_cast<uint32_t>(counted) : 0;
    if (!old_entry) {
      if (!domain && below == 0) continue;
      added.emplace_back(hash, scratch.size());
      append(scratch, as_bytes(key), domain ? &op->facts : nullptr, below);
      continue;
    }
    const size_t offset = static_cast<size_t>(old_entry - old.arena());
    if (!op) {
      if (below == 0 && !domain) return std::nullopt;  // the entry goes
      patches.push_back({offset, SIZE_MAX, below});
      continue;
    }
    if (!domain || encoded_size(as_bytes(key), &op->facts) != size(old_entry)) return std::nullopt;
    patches.push_back({offset, scratch.size(), below});
    append(scratch, as_bytes(key), &op->facts, below);
  }
  size_t added_bytes = 0;
  for (const auto& [hash, from] : added) added_bytes += size(scratch.data() + from);
  const size_t count = old.entries + added.size();
  if (count == 0) return std::pair{empty_shard(), size_t{0}};
  auto shard = allocate_shard(old.arena_bytes + added_bytes, count);
  std::byte* arena = arena_of(*shard);
  std::memcpy(arena, old.arena(), old.arena_bytes);
  for (const auto& p : patches) {
    if (p.from == SIZE_MAX) {
      set_ancestors(arena + p.offset, p.below);
    } else {
      std::memcpy(arena + p.offset, scratch.data() + p.from, size(scratch.data() + p.from));
    }
  }
  size_t at = old.arena_bytes;
  for (const auto& [hash, from] : added) {
    const size_t bytes = size(scratch.data() + from);
    std::memcpy(arena + at, scratch.data() + from, bytes);
    at += bytes;
  }
  if (shard->mask == old.mask) {
    std::memcpy(shard->data.get(), old.data.get(), (size_t{old.mask} + 1) * 4);
    at = old.arena_bytes;
    for (const auto& [hash, from] : added) {
      add_slot(*shard, hash, at);
      at += size(scratch.data() + from);
    }
  } else {
    index_entries(*shard);
  }
  return std::pair{std::shared_ptr<const Shard>(std::move(shard)), count};
}

void ServedIndex::add_segments_for(uint64_t layout) {
  const size_t shards = shards_in(layout);
  if (segment_of(shards - 1) >= kSegments) throw StoreError("too many domains for the served index");
  for (size_t k = 1; k < kSegments && segment_start(k) < shards; ++k)
    if (!segments_[k]) segments_[k].reset(new Slot[segment_start(k)]);  // as many as before it
}

void ServedIndex::split_while_overfull() {
  while (entries_ > shard_count() * shape_.entries_per_shard) {
    // Dekker's handshake with for_each(): a listing under way postpones the split to a
    // later publish (shards hold a little more meanwhile).
    splitting_.store(true);
    if (listings_.load() != 0) {
      splitting_.store(false);
      return;
    }
    split_next_shard();
    splitting_.store(false);
  }
}

// Splits shard `split` of the layout into itself and shard 2^level + split by hash bit
// `level`. Order matters to readers (lookup()): the new shard first, then the layout that
// addresses it, then the half that stays.
void ServedIndex::split_next_shard() {
  const uint64_t layout = layout_.load(std::memory_order_relaxed);
  const uint64_t next = next_layout(layout);
  add_segments_for(next);
  const size_t low = split_of(layout);
  const size_t high = low + (size_t{1} << level_of(layout));
  const auto old = slot(low).load(std::memory_order_relaxed);
  size_t bytes[2] = {0, 0}, counts[2] = {0, 0};
  for_each_entry(*old, [&](const std::byte* e) {
    const bool moves = address(hash_name(name(e)), next) == high;
    bytes[moves] += size(e);
    ++counts[moves];
  });
  const auto half = [&](bool moves) {
    if (counts[moves] == 0) return empty_shard();
    return build_shard(bytes[moves], counts[moves], [&](std::byte* out) {
      for_each_entry(*old, [&](const std::byte* e) {
        if ((address(hash_name(name(e)), next) == high) != moves) return;
        std::memcpy(out, e, size(e));
        out += size(e);
      });
    });
  };
  slot(high).store(half(true), std::memory_order_release);
  layout_.store(next, std::memory_order_release);
  slot(low).store(half(false), std::memory_order_release);
}

// ---- ServedIndexBuilder ----------------------------------------------------------------

ServedIndexBuilder::Part::Buffer::Buffer(size_t capacity) { reserve(capacity); }

ServedIndexBuilder::Part::Buffer::~Buffer() {
  if (data_) munmap(data_, capacity_);
}

ServedIndexBuilder::Part::Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

ServedIndexBuilder::Part::Buffer& ServedIndexBuilder::Part::Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    if (data_) munmap(data_, capacity_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void ServedIndexBuilder::Part::Buffer::reserve(size_t capacity) {
  constexpr size_t kHugePage = size_t{2} << 20;
  capacity = std::max(kHugePage, (capacity + kHugePage - 1) / kHugePage * kHugePage);
  if (capacity <= capacity_) return;
  void* at = data_ ? mremap(data_, capacity_, capacity, MREMAP_MAYMOVE)
                   : mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (at == MAP_FAILED) throw std::bad_alloc();
  madvise(at, capacity, MADV_HUGEPAGE);  // a hint: without it, 4 KiB pages
  data_ = static_cast<std::byte*>(at);
  capacity_ = capacity;
}

std::byte* ServedIndexBuilder::Part::Buffer::grow(size_t bytes) {
  if (size_ + bytes > capacity_) reserve(std::max(capacity_ * 2, size_ + bytes));
  std::byte* at = data_ + size_;
  size_ += bytes;
  return at;
}

ServedIndexBuilder::ServedIndexBuilder(size_t parts, uint64_t expected_bytes) : parts_(std::max<size_t>(parts, 1)) {
  // Entries take more room than the compressed records on disk: reserve generously, it is
  // address space until written.
  const uint64_t share = expected_bytes * 3 / parts_.size();
  for (auto& part : parts_) part.scratch_ = Part::Buffer(std::min<uint64_t>(share, uint64_t{1} << 36));
}

bool ServedIndexBuilder::Part::add(std::string_view domain, const Facts& facts) {
  uint8_t wire[256];
  const size_t n = wire_key_into(domain, wire);
  if (n == 0 || std::any_of(domain.begin(), domain.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) return false;
  if (scratch_.size() / 8 >= UINT32_MAX - 64) throw StoreError("too many domains for the served index");
  refs_.push_back(Ref{static_cast<uint32_t>(hash_name({wire, n})), static_cast<uint32_t>(scratch_.size() / 8)});
  write_entry(scratch_.grow(encoded_size({wire, n}, &facts)), {wire, n}, &facts, 0);
  size_t depth = 0;
  for_each_ancestor(as_text({wire, n}), [&](std::string_view a) {
    if (depth < recent_.size()) {
      auto& [name, count] = recent_[depth++];
      if (count == nullptr || name != a) name.assign(a), count = &ancestors_[name];  // map nodes never move
      ++*count;
      return;
    }
    ++ancestors_[std::string(a)];
  });
  return true;
}

namespace {

// Runs f(0) and f(1) on two threads (this one and another): both cores at start-up.
template <class F>
void on_two_threads(F&& f) {
  std::thread other([&] { f(1); });
  f(0);
  other.join();
}

}  // namespace

// Entries are scattered from the parts' buffers (read in order) into shards allocated
// once at their final size; slots are filled per shard; ancestors are set last (most are
// on few names).
void ServedIndexBuilder::build_into(ServedIndex& index) {
  std::unordered_map<std::string, uint32_t> ancestors = std::move(parts_[0].ancestors_);
  size_t domains = parts_[0].refs_.size();
  for (size_t p = 1; p < parts_.size(); ++p) {
    for (auto& [name, n] : parts_[p].ancestors_) ancestors[name] += n;
    parts_[p].ancestors_ = {};
    domains += parts_[p].refs_.size();
  }
  // Room for every entry (ancestors that are domains too are counted twice: a few more
  // shards at most).
  const uint64_t layout = index.layout_for(domains + ancestors.size());
  index.add_segments_for(layout);
  const size_t shards = shards_in(layout);

  // Sizes per shard, then each shard allocated once.
  const auto entry_bytes = [](const Part& part, size_t i) {
    const size_t end = i + 1 < part.refs_.size() ? part.refs_[i + 1].offset_words * size_t{8} : part.scratch_.size();
    return end - part.refs_[i].offset_words * size_t{8};
  };
  std::vector<uint64_t> bytes(shards, 0);
  std::vector<uint32_t> counts(shards, 0);
  for (const auto& part : parts_)
    for (size_t i = 0; i < part.refs_.size(); ++i) {
      const size_t s = address(part.refs_[i].hash_low, layout);
      bytes[s] += entry_bytes(part, i);
      ++counts[s];
    }
  std::vector<std::shared_ptr<Shard>> built(shards);
  for (size_t s = 0; s < shards; ++s)
    if (counts[s] != 0) built[s] = allocate_shard(bytes[s], counts[s]);

  // Entries copied into their shards (each thread its half of the shards), then indexed.
  std::vector<uint64_t>& written = bytes;  // reused: bytes written into each shard so far
  std::fill(written.begin(), written.end(), 0);
  on_two_threads([&](size_t half) {
    for (const auto& part : parts_)
      for (size_t i = 0; i < part.refs_.size(); ++i) {
        const size_t s = address(part.refs_[i].hash_low, layout);
        if ((s & 1) != half) continue;
        const size_t n = entry_bytes(part, i);
        std::memcpy(arena_of(*built[s]) + written[s], part.scratch_.data() + part.refs_[i].offset_words * size_t{8}, n);
        written[s] += n;
      }
    for (size_t s = half; s < shards; s += 2)
      if (built[s]) index_entries(*built[s]);
  });
  std::vector<Part>().swap(parts_);  // the loading buffers go now

  // Ancestors: a count on the domain entry of the same name, else an entry of their own
  // (the few shards that get one are built again with it).
  std::vector<std::pair<size_t, std::vector<std::byte>>> extra;  // shard, ancestor-only entries
  for (const auto& [name, n] : ancestors) {
    const uint64_t hash = hash_name(as_bytes(name));
    const size_t s = address(hash, layout);
    if (built[s])
      if (const std::byte* e = built[s]->find(as_bytes(name), hash)) {
        set_ancestors(const_cast<std::byte*>(e), n);  // not published yet
        continue;
      }
    std::vector<std::byte> entry;
    append(entry, as_bytes(name), nullptr, n);
    extra.emplace_back(s, std::move(entry));
  }
  std::sort(extra.begin(), extra.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < extra.size();) {
    const size_t s = extra[i].first;
    size_t end = i;
    size_t more_bytes = 0;
    for (; end < extra.size() && extra[end].first == s; ++end) more_bytes += extra[end].second.size();
    const Shard* before = built[s].get();
    const size_t old_bytes = before ? bytes[s] : 0;
    auto shard = allocate_shard(old_bytes + more_bytes, (before ? before->entries : 0) + (end - i));
    std::byte* out = arena_of(*shard);
    if (before) std::memcpy(out, before->arena(), old_bytes), out += old_bytes;
    for (; i < end; ++i) std::memcpy(out, extra[i].second.data(), extra[i].second.size()), out += extra[i].second.size();
    index_entries(*shard);
    built[s] = std::move(shard);
  }

  size_t entries = 0;
  for (size_t s = 0; s < shards; ++s) {
    if (!built[s]) {
      index.slot(s).store(empty_shard(), std::memory_order_release);
      continue;
    }
    entries += built[s]->entries;
    index.slot(s).store(std::move(built[s]), std::memory_order_release);
  }
  // The index is not read before it is built: the layout follows its shards.
  index.layout_.store(layout, std::memory_order_release);
  index.count_ = domains;
  index.entries_ = entries;
}

}  // namespace stsd::store
