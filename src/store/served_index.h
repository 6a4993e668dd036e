#pragma once
// The in-memory index DNS answers from: no per-domain records, only the served facts.
// Shards, each ONE immutable block (a small open-addressing table of 32-bit slots, then
// the packed entries of store/served_entry.h) published through
// std::atomic<std::shared_ptr>. An entry is ~38 bytes plus the wire name (plus held_since,
// rotate_until and the TLS-RPT rdata when set), rounded to 8. Readers take no lock and
// allocate nothing; a change rebuilds only the shards it touches (the domain's, and its
// ancestors' when it is added or removed). Every proper ancestor of a domain has an entry
// too (empty non-terminals, RFC 8020).
//
// The shard count grows with the index by linear hashing (Litwin, "Linear hashing: a new
// tool for file and table addressing", VLDB 1980): one shard is split in two each time the
// entries outgrow ServedIndexShape::entries_per_shard, so a shard keeps about that many entries
// at any size, and publishing a batch of B changes copies ~B shards of that size whatever
// the index holds (a fixed shard count made it O(index size) per batch at 10M domains).
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/served.h"
#include "store/served_record.h"

namespace stsd::store {

// "example.com" -> "\7example\3com" (lowercase wire labels, no root octet); empty when
// the text is not a domain name.
std::string wire_key(std::string_view domain);

// How an index lays out its shards: 2^base_bits to start with, one more split each time
// the index holds more than entries_per_shard entries per shard.
struct ServedIndexShape {
  unsigned base_bits = 14;  // ~61 domains per shard at 1M before any split
  size_t entries_per_shard = 32;
};

class ServedIndex {
 public:
  ServedIndex();
  // Tests use small shapes, so that a few domains split many shards.
  explicit ServedIndex(ServedIndexShape shape);
  ~ServedIndex();
  ServedIndex(const ServedIndex&) = delete;
  ServedIndex& operator=(const ServedIndex&) = delete;

  // --- reads: any thread, no lock, no allocation beyond a refcount ---
  // `labels`: lowercase wire labels without the root octet. Empty view: not a domain.
  ServedView find(std::span<const uint8_t> labels) const noexcept;
  // True when `labels` is a proper ancestor of a domain in the index.
  bool is_ancestor(std::span<const uint8_t> labels) const noexcept;
  // `domain`: text, any case, with or without trailing dot.
  bool contains(std::string_view domain) const noexcept;
  // Calls `visit` with every domain of the published shards, in no particular order; each
  // shard is read as one snapshot (a change published meanwhile shows in the shards read
  // after it). One view per call, reused: copy it to keep it. No allocation; no shard is
  // split while it runs (it waits for a split under way, a few microseconds).
  void for_each(const std::function<void(const ServedView&)>& visit) const;

  // --- changes: one writer at a time ---
  struct Shard;
  // The queued changes' new shards, built and not yet visible.
  struct Prepared {
    std::vector<std::pair<size_t, std::shared_ptr<const Shard>>> shards;  // (shard, its new block)
    int64_t entries_change = 0;
    int64_t count_change = 0;  // of count()
  };
  // Queues the change of a write (`facts` null: removed); publish() makes every queued
  // change visible at once.
  void queue(const std::string& domain, const Facts* facts);
  void publish() { publish(prepare()); }
  // publish() in two steps, so that a large write's shards are built while it commits:
  // prepare() only reads (any one thread, while the writer queues and publishes nothing),
  // then the writer publishes what it built, or discard()s the queued changes when the
  // write failed.
  Prepared prepare() const;
  void publish(Prepared prepared);
  void discard() noexcept;
  // Domains in the published index.
  size_t count() const noexcept { return count_; }

  // Entries (domains and empty non-terminals) and shards: for tests and benchmarks.
  size_t entry_count() const noexcept { return entries_; }
  size_t shard_count() const noexcept;

 private:
  friend class ServedIndexBuilder;
  using Slot = std::atomic<std::shared_ptr<const Shard>>;
  // A queued change of a domain (prepare() adds up its ancestors' counts).
  struct Op {
    std::string name;  // wire labels
    bool remove;
    Facts facts;  // !remove
  };
  struct Change;

  Slot& slot(size_t shard) const noexcept;
  size_t segment_of(size_t shard) const noexcept;
  size_t segment_start(size_t segment) const noexcept;
  uint64_t layout_for(size_t entries) const noexcept;
  // The shard and entry for `name` (entry null when absent), retried when a split moved
  // the name meanwhile.
  std::pair<std::shared_ptr<const Shard>, const std::byte*> lookup(std::span<const uint8_t> name) const noexcept;
  // A name's changes merged: they end at `end`; its last domain change (`op`, null: none),
  // and whether its entry is a domain and how many domains are below it.
  struct NameChange {
    size_t end = 0;
    const Op* op = nullptr;
    bool domain = false;
    uint32_t below = 0;
  };
  static NameChange name_change(std::span<const Change> changes, size_t first, const std::byte* old_entry);
  // The shard with `changes` applied, and its entries' count.
  std::pair<std::shared_ptr<const Shard>, size_t> rebuilt_shard(size_t shard, std::span<const Change> changes,
                                                                std::vector<std::byte>& scratch) const;
  // rebuilt_shard() by copying `old` whole when no entry of it goes or changes size (what
  // adding domains does); nullopt otherwise.
  static std::optional<std::pair<std::shared_ptr<const Shard>, size_t>> patched_shard(
      const Shard& old, std::span<const Change> changes, std::vector<std::byte>& scratch);
  void add_segments_for(uint64_t layout);
  void split_next_shard();
  void split_while_overfull();

  // Shard slots in segments that never move: segment 0 holds 2^base_bits, segment k >= 1
  // the next 2^base_bits << (k-1). A segment is written before the layout that addresses
  // it is published (release), so readers read the pointers without atomics.
  static constexpr size_t kSegments = 40;
  const ServedIndexShape shape_;
  std::array<std::unique_ptr<Slot[]>, kSegments> segments_;
  // level << 32 | split: shards [0, 2^level + split) are in use (linear hashing).
  std::atomic<uint64_t> layout_;
  // for_each runs (no split starts meanwhile) and a split under way (for_each waits).
  mutable std::atomic<uint32_t> listings_{0};
  std::atomic<bool> splitting_{false};

  std::vector<Op> ops_;  // in queue order
  size_t count_ = 0;     // published
  size_t entries_ = 0;   // published
};

// Start-up: builds every shard at once from the served records, read by one or more
// threads (a Part each): a counting sort by shard, each shard allocated once, its entries
// copied once, on two threads.
class ServedIndexBuilder {
 public:
  // One loading thread's share: the entries of the domains it reads, packed.
  class Part {
   public:
    // False when `domain` is not a lowercase domain name.
    bool add(std::string_view domain, const Facts& facts);

   private:
    friend class ServedIndexBuilder;
    // Packed entries in anonymous memory, on huge pages where the kernel allows them: one
    // fault per 2 MiB and no zeroing by us; grown by mremap, without copying (at 10M
    // domains, faults and copies of a vector's ~600 MiB were most of the load).
    class Buffer {
     public:
      Buffer() = default;
      explicit Buffer(size_t capacity);
      ~Buffer();
      Buffer(Buffer&& other) noexcept;
      Buffer& operator=(Buffer&& other) noexcept;
      std::byte* grow(size_t bytes);  // `bytes` more zero bytes at the end: their start
      std::byte* data() const noexcept { return data_; }
      size_t size() const noexcept { return size_; }

     private:
      void reserve(size_t capacity);
      std::byte* data_ = nullptr;
      size_t size_ = 0;
      size_t capacity_ = 0;
    };
    struct Ref {
      uint32_t hash_low;      // the low 32 bits of the name's hash: its shard
      uint32_t offset_words;  // into scratch_
    };
    Buffer scratch_;
    std::vector<Ref> refs_;
    std::unordered_map<std::string, uint32_t> ancestors_;  // wire name -> domains below it
    // The last ancestors counted, by depth: most domains share their parent with the last.
    std::array<std::pair<std::string, uint32_t*>, 4> recent_;
  };

  // `parts`: one per loading thread; `expected_bytes`: about the size of the served
  // records (room is reserved up front: growing a vector of ~600 MiB would copy it).
  ServedIndexBuilder(size_t parts, uint64_t expected_bytes);
  Part& part(size_t i) { return parts_[i]; }
  bool add(std::string_view domain, const Facts& facts) { return parts_[0].add(domain, facts); }
  // Publishes the shards into `index`, which must be empty and not read yet. The builder
  // is spent.
  void build_into(ServedIndex& index);

 private:
  std::vector<Part> parts_;
};

}  // namespace stsd::store
