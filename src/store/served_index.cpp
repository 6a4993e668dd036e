#include "store/served_index.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "store/errors.h"

namespace stsd::store {

namespace {

// 16,384 shards: ~61 domains each at 1M (a change copies ~4 KiB), ~80 bytes of fixed
// overhead each (1.3 MiB in all).
constexpr size_t kShardBits = 14;
constexpr size_t kShardCount = size_t{1} << kShardBits;

// A fast hash of a wire name (8 bytes per step; names are short).
uint64_t hash_name(std::span<const uint8_t> bytes) noexcept {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ bytes.size();
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 32;
  return h;
}
size_t shard_of(uint64_t hash) noexcept { return hash & (kShardCount - 1); }

std::span<const uint8_t> as_bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
std::string_view as_text(std::span<const uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// "example.com" -> "\7example\3com" (lowercase wire labels, no root octet). Returns the
// length written into `out` (at most 254), or 0 when the text is not a domain name.
size_t wire_key_into(std::string_view text, uint8_t (&out)[256]) noexcept {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty() || text.size() > 253) return 0;
  size_t len = 0;
  size_t label_start = 0;
  out[len++] = 0;
  for (char c : text) {
    if (c == '.') {
      if (out[label_start] == 0) return 0;
      label_start = len;
      out[len++] = 0;
      continue;
    }
    if (out[label_start] == 63) return 0;
    out[label_start]++;
    out[len++] = static_cast<uint8_t>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  }
  if (out[label_start] == 0) return 0;
  return len;
}

// Calls f(suffix) for every proper suffix of wire labels: "\7example\3com" -> "\3com".
template <class F>
void for_each_ancestor(std::string_view wire, F&& f) {
  size_t offset = wire.empty() ? 0 : static_cast<uint8_t>(wire[0]) + 1;
  while (offset < wire.size()) {
    f(wire.substr(offset));
    offset += static_cast<uint8_t>(wire[offset]) + 1;
  }
}

// ---- an entry, packed into a shard's arena ---------------------------------------------
//
//   0  u8  wire name length        1  u8  flags (kEntry*)     2  u8  TLS-RPT text length
//   3  u8  unused                  4  u32 ancestor count (domains strictly below this name)
//   8  u32 confirmed version      12  6 digest bytes          18  i64 txt_changed_at
//  26  i64 settings_changed_at    34  u32 rotation hash
//  38  [i64 held_since]  [i64 rotate_until]  then the wire name, then the TLS-RPT TXT rdata
//  (length octet + text); the entry is padded to a multiple of 8.
// Fields are read with memcpy (no alignment or aliasing assumptions).
enum : uint8_t { kEntryDomain = 1, kEntryConfirmed = 2, kEntryHeld = 4, kEntryGated = 8 };
constexpr size_t kOffFlags = 1, kOffTlsLen = 2, kOffAncestors = 4, kOffVersion = 8, kOffDigest = 12,
                 kOffTxtChanged = 18, kOffSettingsChanged = 26, kOffHash = 34, kEntryFixed = 38;

template <class T>
T load_at(const std::byte* entry, size_t offset) noexcept {
  T v;
  std::memcpy(&v, entry + offset, sizeof v);
  return v;
}
uint8_t entry_u8(const std::byte* e, size_t offset) noexcept { return static_cast<uint8_t>(e[offset]); }
size_t entry_optional_offset(const std::byte* e, uint8_t field) noexcept {
  const uint8_t flags = entry_u8(e, kOffFlags);
  size_t at = kEntryFixed;
  if (field == kEntryGated && (flags & kEntryHeld)) at += 8;
  return at;
}
size_t entry_name_offset(const std::byte* e) noexcept {
  const uint8_t flags = entry_u8(e, kOffFlags);
  return kEntryFixed + ((flags & kEntryHeld) ? 8 : 0) + ((flags & kEntryGated) ? 8 : 0);
}
std::span<const uint8_t> entry_name(const std::byte* e) noexcept {
  return {reinterpret_cast<const uint8_t*>(e + entry_name_offset(e)), entry_u8(e, 0)};
}
size_t round8(size_t n) noexcept { return (n + 7) & ~size_t{7}; }
size_t entry_size(const std::byte* e) noexcept {
  const size_t tls = entry_u8(e, kOffTlsLen);
  return round8(entry_name_offset(e) + entry_u8(e, 0) + (tls ? 1 + tls : 0));
}

// Appends an entry: a domain (facts set) and/or an ancestor (count > 0).
void append_entry(std::vector<std::byte>& out, std::span<const uint8_t> name, const Facts* facts, uint32_t ancestors) {
  const bool held = facts && facts->held_since;
  const bool gated = facts && facts->rotate_until;
  const size_t tls = facts ? facts->tlsrpt_txt.size() : 0;
  const size_t start = out.size();
  const size_t size = round8(kEntryFixed + (held ? 8 : 0) + (gated ? 8 : 0) + name.size() + (tls ? 1 + tls : 0));
  out.resize(start + size, std::byte{0});
  std::byte* e = out.data() + start;
  uint8_t flags = 0;
  if (facts) flags |= kEntryDomain;
  if (facts && facts->confirmed) flags |= kEntryConfirmed;
  if (held) flags |= kEntryHeld;
  if (gated) flags |= kEntryGated;
  e[0] = static_cast<std::byte>(name.size());
  e[kOffFlags] = static_cast<std::byte>(flags);
  e[kOffTlsLen] = static_cast<std::byte>(tls);
  std::memcpy(e + kOffAncestors, &ancestors, 4);
  if (facts) {
    std::memcpy(e + kOffVersion, &facts->version, 4);
    std::memcpy(e + kOffDigest, facts->digest.data(), 6);
    std::memcpy(e + kOffTxtChanged, &facts->txt_changed_at, 8);
    std::memcpy(e + kOffSettingsChanged, &facts->settings_changed_at, 8);
    std::memcpy(e + kOffHash, &facts->rotation_hash, 4);
    if (held) std::memcpy(e + kEntryFixed, &*facts->held_since, 8);
    if (gated) std::memcpy(e + entry_optional_offset(e, kEntryGated), &*facts->rotate_until, 8);
  }
  size_t at = entry_name_offset(e);
  std::memcpy(e + at, name.data(), name.size());
  at += name.size();
  if (tls) {
    e[at] = static_cast<std::byte>(tls);
    std::memcpy(e + at + 1, facts->tlsrpt_txt.data(), tls);
  }
}

Facts entry_facts(const std::byte* e) {
  Facts f;
  const uint8_t flags = entry_u8(e, kOffFlags);
  f.confirmed = flags & kEntryConfirmed;
  f.version = load_at<uint32_t>(e, kOffVersion);
  std::memcpy(f.digest.data(), e + kOffDigest, 6);
  f.txt_changed_at = load_at<int64_t>(e, kOffTxtChanged);
  f.settings_changed_at = load_at<int64_t>(e, kOffSettingsChanged);
  f.rotation_hash = load_at<uint32_t>(e, kOffHash);
  if (flags & kEntryHeld) f.held_since = load_at<int64_t>(e, kEntryFixed);
  if (flags & kEntryGated) f.rotate_until = load_at<int64_t>(e, entry_optional_offset(e, kEntryGated));
  if (const size_t tls = entry_u8(e, kOffTlsLen))
    f.tlsrpt_txt.assign(reinterpret_cast<const char*>(e + entry_name_offset(e) + entry_u8(e, 0) + 1), tls);
  return f;
}

}  // namespace

// One immutable shard: `slots` 32-bit slots (8-bit hash tag << 24 | entry offset in 8-byte
// words + 1; 0 = empty; linear probing, load <= 3/4), then the arena of entries.
struct ServedIndex::Shard {
  uint32_t mask = 0;  // slots - 1
  uint32_t entries = 0;
  size_t arena_bytes = 0;
  std::unique_ptr<std::byte[]> data;

  const std::byte* arena() const noexcept { return data.get() + round8((size_t{mask} + 1) * 4); }

  const std::byte* find(std::span<const uint8_t> name, uint64_t hash) const noexcept {
    const uint32_t tag = static_cast<uint32_t>(hash >> 56);
    const std::byte* base = arena();
    for (size_t i = (hash >> 20) & mask;; i = (i + 1) & mask) {
      uint32_t slot;
      std::memcpy(&slot, data.get() + i * 4, 4);
      if (slot == 0) return nullptr;
      if ((slot >> 24) != tag) continue;
      const std::byte* e = base + size_t{(slot & 0xffffff) - 1} * 8;
      if (entry_u8(e, 0) == name.size() && std::memcmp(e + entry_name_offset(e), name.data(), name.size()) == 0)
        return e;
    }
  }
};

namespace {

using Shard = ServedIndex::Shard;

// Packs complete entries (each a multiple of 8 bytes) into a new shard.
std::shared_ptr<const Shard> build_shard(const std::vector<std::span<const std::byte>>& entries) {
  auto shard = std::make_shared<Shard>();
  size_t slots = 2;
  while (slots < entries.size() + entries.size() / 3 + 1) slots *= 2;
  size_t arena = 0;
  for (const auto& e : entries) arena += e.size();
  if (arena / 8 >= 0xffffff) throw StoreError("a served-index shard outgrew 128 MiB (too many domains)");
  const size_t slot_bytes = round8(slots * 4);
  shard->mask = static_cast<uint32_t>(slots - 1);
  shard->entries = static_cast<uint32_t>(entries.size());
  shard->arena_bytes = arena;
  shard->data.reset(new std::byte[slot_bytes + arena]);
  std::memset(shard->data.get(), 0, slot_bytes);
  std::byte* out = shard->data.get() + slot_bytes;
  size_t offset = 0;
  for (const auto& e : entries) {
    std::memcpy(out + offset, e.data(), e.size());
    const uint64_t hash = hash_name(entry_name(out + offset));
    const uint32_t slot = static_cast<uint32_t>(hash >> 56) << 24 | static_cast<uint32_t>(offset / 8 + 1);
    size_t i = (hash >> 20) & shard->mask;
    for (;; i = (i + 1) & shard->mask) {
      uint32_t used;
      std::memcpy(&used, shard->data.get() + i * 4, 4);
      if (used == 0) break;
    }
    std::memcpy(shard->data.get() + i * 4, &slot, 4);
    offset += e.size();
  }
  return shard;
}

std::shared_ptr<const Shard> empty_shard() {
  static const std::shared_ptr<const Shard> empty = build_shard({});
  return empty;
}

// The entry for `name` and the shard holding it (entry null when absent).
std::pair<std::shared_ptr<const Shard>, const std::byte*> lookup(
    const std::atomic<std::shared_ptr<const Shard>>* shards, std::span<const uint8_t> name) noexcept {
  const uint64_t hash = hash_name(name);
  auto shard = shards[shard_of(hash)].load(std::memory_order_acquire);
  const std::byte* entry = shard->find(name, hash);
  return {std::move(shard), entry};
}

}  // namespace

std::string wire_key(std::string_view domain) {
  uint8_t buf[256];
  const size_t n = wire_key_into(domain, buf);
  return std::string(reinterpret_cast<const char*>(buf), n);
}

// ---- ServedIndex -----------------------------------------------------------------------

ServedIndex::ServedIndex() : shards_(new std::atomic<std::shared_ptr<const Shard>>[kShardCount]) {
  auto empty = empty_shard();
  for (size_t i = 0; i < kShardCount; ++i) shards_[i].store(empty, std::memory_order_relaxed);
}

ServedIndex::~ServedIndex() = default;

ServedView ServedIndex::find(std::span<const uint8_t> labels) const noexcept {
  auto [shard, entry] = lookup(shards_.get(), labels);
  if (!entry || !(entry_u8(entry, kOffFlags) & kEntryDomain)) return {};
  return ServedView(std::shared_ptr<const void>(std::move(shard)), entry);
}

bool ServedIndex::is_ancestor(std::span<const uint8_t> labels) const noexcept {
  auto [shard, entry] = lookup(shards_.get(), labels);
  return entry && load_at<uint32_t>(entry, kOffAncestors) > 0;
}

bool ServedIndex::contains(std::string_view domain) const noexcept {
  uint8_t key[256];
  const size_t n = wire_key_into(domain, key);
  if (n == 0) return false;
  auto [shard, entry] = lookup(shards_.get(), {key, n});
  return entry && (entry_u8(entry, kOffFlags) & kEntryDomain);
}

void ServedIndex::for_each(const std::function<void(const ServedView&)>& visit) const {
  for (size_t s = 0; s < kShardCount; ++s) {
    auto shard = shards_[s].load(std::memory_order_acquire);
    if (shard->entries == 0) continue;
    const std::byte* e = shard->arena();
    ServedView view(std::shared_ptr<const void>(std::move(shard)), nullptr);
    const auto* held = static_cast<const Shard*>(view.keep_.get());
    for (uint32_t i = 0; i < held->entries; ++i, e += entry_size(e)) {
      if (!(entry_u8(e, kOffFlags) & kEntryDomain)) continue;
      view.entry_ = e;
      visit(view);
    }
  }
}

void ServedIndex::queue(const std::string& domain, const Facts* facts) {
  const std::string wire = wire_key(domain);
  const bool present = contains(domain);  // the published state (publish() follows every write)
  const size_t shard = shard_of(hash_name(as_bytes(wire)));
  if (facts) {
    ops_[shard].push_back(Op{Op::Upsert, wire, *facts});
    if (!present) {
      ++count_;
      for_each_ancestor(wire, [&](std::string_view a) {
        ops_[shard_of(hash_name(as_bytes(a)))].push_back(Op{Op::AncestorUp, std::string(a), {}});
      });
    }
  } else if (present) {
    ops_[shard].push_back(Op{Op::Remove, wire, {}});
    --count_;
    for_each_ancestor(wire, [&](std::string_view a) {
      ops_[shard_of(hash_name(as_bytes(a)))].push_back(Op{Op::AncestorDown, std::string(a), {}});
    });
  }
}

// Rebuilds every shard with queued ops and publishes it (release order: a reader that
// sees the new shard sees its contents).
void ServedIndex::publish() {
  struct Item {
    std::string_view name;
    bool domain;
    uint32_t ancestors;
    const std::byte* old_entry;  // facts from the old shard, or
    const Facts* facts;          // from an op
  };
  std::vector<Item> items;
  std::vector<std::byte> scratch;
  std::vector<size_t> offsets;
  std::vector<std::span<const std::byte>> entries;
  for (auto& [index, shard_ops] : ops_) {
    const auto old = shards_[index].load(std::memory_order_acquire);
    items.clear();
    const std::byte* e = old->arena();
    for (uint32_t i = 0; i < old->entries; ++i, e += entry_size(e)) {
      const bool domain = entry_u8(e, kOffFlags) & kEntryDomain;
      items.push_back(Item{as_text(entry_name(e)), domain, load_at<uint32_t>(e, kOffAncestors), e, nullptr});
    }
    for (const auto& op : shard_ops) {
      auto it = std::find_if(items.begin(), items.end(), [&](const Item& item) { return item.name == op.name; });
      switch (op.kind) {
        case Op::Upsert:
          if (it == items.end())
            items.push_back(Item{op.name, true, 0, nullptr, &op.facts});
          else
            it->domain = true, it->old_entry = nullptr, it->facts = &op.facts;
          break;
        case Op::Remove:
          if (it != items.end()) it->domain = false;
          break;
        case Op::AncestorUp:
          if (it == items.end())
            items.push_back(Item{op.name, false, 1, nullptr, nullptr});
          else
            ++it->ancestors;
          break;
        case Op::AncestorDown:
          if (it != items.end() && it->ancestors > 0) --it->ancestors;
          break;
      }
    }
    scratch.clear();
    offsets.clear();
    for (const auto& item : items) {
      if (!item.domain && item.ancestors == 0) continue;
      offsets.push_back(scratch.size());
      if (!item.domain) {
        append_entry(scratch, as_bytes(item.name), nullptr, item.ancestors);
      } else if (item.facts) {
        append_entry(scratch, as_bytes(item.name), item.facts, item.ancestors);
      } else {
        const Facts facts = entry_facts(item.old_entry);
        append_entry(scratch, as_bytes(item.name), &facts, item.ancestors);
      }
    }
    offsets.push_back(scratch.size());
    entries.clear();
    for (size_t i = 0; i + 1 < offsets.size(); ++i)
      entries.emplace_back(scratch.data() + offsets[i], offsets[i + 1] - offsets[i]);
    shards_[index].store(entries.empty() ? empty_shard() : build_shard(entries), std::memory_order_release);
  }
  ops_.clear();
}

// ---- ServedIndexBuilder ----------------------------------------------------------------

ServedIndexBuilder::ServedIndexBuilder(uint64_t expected_bytes) {
  // A served record on disk is about the size of its entry.
  scratch_.reserve(std::min<uint64_t>(expected_bytes + expected_bytes / 2, uint64_t{1} << 34));
}

bool ServedIndexBuilder::add(std::string_view domain, const Facts& facts) {
  uint8_t wire[256];
  const size_t n = wire_key_into(domain, wire);
  if (n == 0 || std::any_of(domain.begin(), domain.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) return false;
  if (scratch_.size() / 8 >= UINT32_MAX - 64) throw StoreError("too many domains for the served index");
  refs_.push_back(
      Ref{static_cast<uint32_t>(shard_of(hash_name({wire, n}))), static_cast<uint32_t>(scratch_.size() / 8)});
  append_entry(scratch_, {wire, n}, &facts, 0);
  for_each_ancestor(as_text({wire, n}), [&](std::string_view a) { ++ancestors_[std::string(a)]; });
  ++count_;
  return true;
}

void ServedIndexBuilder::build_into(ServedIndex& index) {
  // Group by shard (counting sort).
  std::vector<uint32_t> first(kShardCount + 1, 0);
  for (const auto& ref : refs_) ++first[ref.shard + 1];
  for (size_t i = 0; i < kShardCount; ++i) first[i + 1] += first[i];
  std::vector<uint32_t> order(refs_.size());
  {
    std::vector<uint32_t> next(first.begin(), first.end() - 1);
    for (const auto& ref : refs_) order[next[ref.shard]++] = ref.offset_words;
  }
  refs_ = {};
  // Ancestors: a count on the domain entry of the same name, else an entry of their own.
  std::vector<std::vector<uint32_t>> extra(kShardCount);  // ancestor-only entries per shard
  for (const auto& [name, n] : ancestors_) {
    const size_t s = shard_of(hash_name(as_bytes(name)));
    bool found = false;
    for (uint32_t i = first[s]; i < first[s + 1] && !found; ++i) {
      std::byte* e = scratch_.data() + size_t{order[i]} * 8;
      if (as_text(entry_name(e)) == name) {
        std::memcpy(e + kOffAncestors, &n, 4);
        found = true;
      }
    }
    if (found) continue;
    extra[s].push_back(static_cast<uint32_t>(scratch_.size() / 8));
    append_entry(scratch_, as_bytes(name), nullptr, n);
  }
  ancestors_ = {};
  std::vector<std::span<const std::byte>> entries;
  const auto entry_at = [&](uint32_t words) {
    const std::byte* e = scratch_.data() + size_t{words} * 8;
    return std::span<const std::byte>(e, entry_size(e));
  };
  for (size_t s = 0; s < kShardCount; ++s) {
    entries.clear();
    for (uint32_t i = first[s]; i < first[s + 1]; ++i) entries.push_back(entry_at(order[i]));
    for (uint32_t at : extra[s]) entries.push_back(entry_at(at));
    if (!entries.empty()) index.shards_[s].store(build_shard(entries), std::memory_order_release);
  }
  scratch_ = {};
  index.count_ = count_;
}

// ---- what answering reads --------------------------------------------------------------

std::span<const uint8_t> ServedView::wire_key() const noexcept { return entry_name(entry_); }
bool ServedView::has_confirmed() const noexcept { return entry_u8(entry_, kOffFlags) & kEntryConfirmed; }
uint32_t ServedView::confirmed_version() const noexcept {
  return has_confirmed() ? load_at<uint32_t>(entry_, kOffVersion) : 0;
}
std::optional<int64_t> ServedView::held_since() const noexcept {
  if (!(entry_u8(entry_, kOffFlags) & kEntryHeld)) return std::nullopt;
  return load_at<int64_t>(entry_, kEntryFixed);
}
int64_t ServedView::txt_changed_at() const noexcept { return load_at<int64_t>(entry_, kOffTxtChanged); }
int64_t ServedView::settings_changed_at() const noexcept { return load_at<int64_t>(entry_, kOffSettingsChanged); }
std::span<const uint8_t> ServedView::tlsrpt_rdata() const noexcept {
  const size_t tls = entry_u8(entry_, kOffTlsLen);
  if (!tls) return {};
  return {reinterpret_cast<const uint8_t*>(entry_ + entry_name_offset(entry_) + entry_u8(entry_, 0)), 1 + tls};
}
std::optional<int64_t> ServedView::rotate_until() const noexcept {
  if (!(entry_u8(entry_, kOffFlags) & kEntryGated)) return std::nullopt;
  return load_at<int64_t>(entry_, entry_optional_offset(entry_, kEntryGated));
}
uint32_t ServedView::rotation_hash() const noexcept { return load_at<uint32_t>(entry_, kOffHash); }

Period ServedView::effective_period(int64_t unix_now, const RotationSchedule& schedule) const noexcept {
  return period_at(effective_time(unix_now, held_since(), rotate_until()), rotation_hash(), schedule);
}

namespace {
// "000102...ff": two hex digits per byte value.
constexpr std::array<char, 512> kHexPairs = [] {
  std::array<char, 512> t{};
  constexpr char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < 256; ++i) {
    t[2 * i] = digits[i >> 4];
    t[2 * i + 1] = digits[i & 15];
  }
  return t;
}();

// The unit the label is shown in (format_period_prefix): a day, an hour, a minute or a second.
int64_t label_unit(int64_t rotation) noexcept {
  if (rotation % 86400 == 0) return 86400;
  if (rotation % 3600 == 0) return 3600;
  if (rotation % 60 == 0) return 60;
  return 1;
}
}  // namespace

size_t ServedView::id_at(int64_t unix_now, const RotationSchedule& schedule, char (&out)[kMaxIdLength]) const noexcept {
  if (!has_confirmed()) return 0;
  const Period period = effective_period(unix_now, schedule);
  // Domains rotate at their own offsets, but at any moment almost all of them carry one
  // of two labels (the current unit, or the next one): format each once per thread, not
  // per query.
  struct PrefixCache {
    int64_t unit_index;
    size_t length;
    char text[16];
  };
  struct ThreadCache {
    int64_t rotation = 0;
    int64_t unit = 1;
    PrefixCache slots[2];
  };
  thread_local ThreadCache cache{0, 1, {{INT64_MIN, 0, {}}, {INT64_MIN, 0, {}}}};
  const int64_t rotation = schedule.rotation.count();
  if (cache.rotation != rotation) {
    cache = ThreadCache{rotation, label_unit(rotation > 0 ? rotation : 86400), {{INT64_MIN, 0, {}}, {INT64_MIN, 0, {}}}};
  }
  int64_t unit_index = period.label / cache.unit;
  if (period.label % cache.unit < 0) --unit_index;
  PrefixCache& slot = cache.slots[unit_index & 1];
  if (slot.unit_index != unit_index) {
    slot.length = detail::format_period_prefix(slot.text, period.label, schedule.rotation);
    slot.unit_index = unit_index;
  }
  std::memcpy(out, slot.text, 14);
  size_t len = detail::append_version(out, slot.length, load_at<uint32_t>(entry_, kOffVersion));
  out[len++] = 'd';
  // The digest fragment: 12 hex digits, or as many as fit in 32 characters.
  char hex[12];
  for (size_t i = 0; i < 6; ++i) std::memcpy(hex + 2 * i, kHexPairs.data() + 2 * entry_u8(entry_, kOffDigest + i), 2);
  const size_t fragment = std::min<size_t>(12, kMaxIdLength - len);
  std::memcpy(out + len, hex, fragment);
  return len + fragment;
}

Period ServedDomain::effective_period(int64_t unix_now, const RotationSchedule& schedule) const noexcept {
  return period_at(effective_time(unix_now, held_since, rotate_until), rotation_hash, schedule);
}

size_t ServedDomain::id_at(int64_t unix_now, const RotationSchedule& schedule,
                           char (&out)[kMaxIdLength]) const noexcept {
  if (!confirmed) return 0;
  return format_policy_id(out, effective_period(unix_now, schedule).label, schedule.rotation, confirmed->number,
                          confirmed->digest);
}

}  // namespace stsd::store
