// The served index's reads and changes: lookups, publishing a write's changes (each
// changed shard patched or rebuilt, store/served_shard.h) and splitting shards as it
// grows. Its start-up build is in served_index_builder.cpp.
#include "store/served_index.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>

#include "store/errors.h"
#include "store/served_shard.h"

namespace stsd::store {

using namespace served_shard;

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

// The changes of the name at `first` merged, over its entry as it is (`old_entry`, null:
// none): its last domain change wins and its ancestor changes add up.
ServedIndex::NameChange ServedIndex::name_change(std::span<const Change> changes, size_t first,
                                                 const std::byte* old_entry) {
  NameChange c;
  int64_t delta = 0;
  for (c.end = first; c.end < changes.size() && changes[c.end].name == changes[first].name; ++c.end) {
    if (changes[c.end].op) c.op = changes[c.end].op;
    delta += changes[c.end].ancestor_delta;
  }
  c.domain = c.op ? !c.op->remove : old_entry && is_domain(old_entry);
  const int64_t counted = int64_t{old_entry ? ancestors(old_entry) : 0} + delta;
  c.below = counted > 0 ? static_cast<uint32_t>(counted) : 0;
  return c;
}

// The shard with `changes` (sorted by name) applied: entries no change names are copied
// as they are, the others as name_change() merges them.
std::pair<std::shared_ptr<const ServedIndex::Shard>, size_t> ServedIndex::rebuilt_shard(
    size_t shard, std::span<const Change> changes, std::vector<std::byte>& scratch) const {
  const auto old = slot(shard).load(std::memory_order_relaxed);  // only the writer stores
  if (auto patched = patched_shard(*old, changes, scratch)) return std::move(*patched);
  scratch.clear();
  size_t count = 0;
  // Applies the changes of the name at `first` to `old_entry` (null: none); returns the
  // index after that name's changes.
  const auto apply = [&](size_t first, const std::byte* old_entry) {
    const NameChange c = name_change(changes, first, old_entry);
    if (!c.domain && c.below == 0) return c.end;
    if (!c.op && old_entry && c.domain) {  // the domain as it was: its bytes, with the new count
      const size_t at = scratch.size();
      scratch.insert(scratch.end(), old_entry, old_entry + size(old_entry));
      set_ancestors(scratch.data() + at, c.below);
    } else {
      append(scratch, as_bytes(changes[first].name), c.domain ? &c.op->facts : nullptr, c.below);
    }
    ++count;
    return c.end;
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
    const auto key = as_bytes(changes[i].name);
    const uint64_t hash = hash_name(key);
    const std::byte* old_entry = old.find(key, hash);
    const NameChange c = name_change(changes, i, old_entry);
    i = c.end;
    if (!old_entry) {
      if (!c.domain && c.below == 0) continue;
      added.emplace_back(hash, scratch.size());
      append(scratch, key, c.domain ? &c.op->facts : nullptr, c.below);
      continue;
    }
    const size_t offset = static_cast<size_t>(old_entry - old.arena());
    if (!c.op) {
      if (c.below == 0 && !c.domain) return std::nullopt;  // the entry goes
      patches.push_back({offset, SIZE_MAX, c.below});
      continue;
    }
    if (!c.domain || encoded_size(key, &c.op->facts) != size(old_entry)) return std::nullopt;
    patches.push_back({offset, scratch.size(), c.below});
    append(scratch, key, &c.op->facts, c.below);
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

}  // namespace stsd::store
