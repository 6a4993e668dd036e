#pragma once
// The in-memory index DNS answers from: no per-domain records, only the served facts.
// 16,384 shards, each ONE immutable block (a small open-addressing table of 32-bit slots,
// then the packed entries) published through std::atomic<std::shared_ptr>. An entry is
// ~38 bytes plus the wire name (plus held_since, rotate_until and the TLS-RPT rdata when set), rounded
// to 8. Readers take no lock and allocate nothing; a change rebuilds only the shards it
// touches (the domain's, and its ancestors' when it is added or removed). Every proper
// ancestor of a domain has an entry too (empty non-terminals, RFC 8020).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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

class ServedIndex {
 public:
  ServedIndex();
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
  // after it). One view per call, reused: copy it to keep it. No allocation, no lock.
  void for_each(const std::function<void(const ServedView&)>& visit) const;

  // --- changes: one writer at a time ---
  // Queues the change of a committed write (`facts` null: removed); publish() makes every
  // queued change visible at once.
  void queue(const std::string& domain, const Facts* facts);
  void publish();
  // Domains in the index, queued changes included.
  size_t count() const noexcept { return count_; }

  struct Shard;

 private:
  friend class ServedIndexBuilder;
  // A queued change to one shard.
  struct Op {
    enum Kind : uint8_t { Upsert, Remove, AncestorUp, AncestorDown } kind;
    std::string name;  // wire labels
    Facts facts;       // Upsert
  };

  std::unique_ptr<std::atomic<std::shared_ptr<const Shard>>[]> shards_;
  std::map<size_t, std::vector<Op>> ops_;  // by shard, applied in order by publish()
  size_t count_ = 0;
};

// Start-up: builds every shard at once from the served records (a counting sort by shard
// instead of one rebuild per domain).
class ServedIndexBuilder {
 public:
  // `expected_bytes`: about the size of the served records (room is reserved up front:
  // growing a vector of ~60 MiB would copy it and fault its pages again).
  explicit ServedIndexBuilder(uint64_t expected_bytes);
  // False when `domain` is not a lowercase domain name.
  bool add(std::string_view domain, const Facts& facts);
  // Publishes the shards into `index`, which must be empty. The builder is spent.
  void build_into(ServedIndex& index);

 private:
  struct Ref {
    uint32_t shard;
    uint32_t offset_words;  // into scratch_
  };
  std::vector<std::byte> scratch_;  // every entry, packed
  std::vector<Ref> refs_;
  std::unordered_map<std::string, uint32_t> ancestors_;
  size_t count_ = 0;
};

}  // namespace stsd::store
