// The policy store: RocksDB records, and the compact lock-free index DNS answers from.
//
// Keys (default column family, all under "mtasts/" so the store can be shared):
//   mtasts/schema                 "2"                         schema version of this layout
//   mtasts/event_seq              decimal                     last event sequence number
//   mtasts/d/<domain>             JSON DomainRecord           settings + staged/confirmed pointers
//   mtasts/s/<domain>             binary served record        what DNS needs (schema 2), below
//   mtasts/v/<domain>/<%010u>     JSON version                immutable numbered policy versions
//   mtasts/n/<domain>             decimal                     last version number of a removed domain
//   mtasts/e/<domain>/<%020u>     JSON event                  append-only event log
// Every state change is one WriteBatch written with sync=true, so an acknowledged change
// survives kill -9 and a pointer is never written without the version it points to. The
// served record is derived from the domain record and its versions and is written in the
// same batch (Impl::add_served), so start-up reads only `mtasts/s/`: one sequential scan,
// no JSON, no random Gets (issue 6: 1M domains in a few seconds).
//
// Memory (issue 6): no per-domain records are kept, only the served index: 16,384 shards,
// each ONE immutable block (a small open-addressing table of 32-bit slots, then the packed
// entries) published through std::atomic<std::shared_ptr>. An entry is ~34 bytes plus the
// wire name (plus held_since and the TLS-RPT rdata when set), rounded to 8. A change
// rebuilds only the shards it touches (the domain's, and its ancestors' when it is added
// or removed). Writers and admin reads go to RocksDB.
#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include "clock.h"
#include "environment.h"
#include "logging.h"
#include "state.h"

namespace stsd::mtasts {

namespace detail {
// policy.cpp: the pieces of format_policy_id, so the DNS path can cache the period prefix.
size_t format_period_prefix(char* out, int64_t period_start_unix, std::chrono::seconds rotation) noexcept;
size_t append_version(char (&out)[kMaxIdLength], size_t len, uint32_t version) noexcept;
}  // namespace detail

namespace {

using json = nlohmann::json;

constexpr std::string_view kSchemaKey = "mtasts/schema";
constexpr std::string_view kEventSeqKey = "mtasts/event_seq";
constexpr std::string_view kDomainPrefix = "mtasts/d/";
constexpr std::string_view kServedPrefix = "mtasts/s/";
constexpr std::string_view kServedEnd = "mtasts/s0";   // '0' follows '/': the prefix's upper bound
constexpr std::string_view kVersionPrefix = "mtasts/v/";
constexpr std::string_view kLastNumberPrefix = "mtasts/n/";
constexpr std::string_view kEventPrefix = "mtasts/e/";

// 16,384 shards: ~61 domains each at 1M (a change copies ~4 KiB), ~80 bytes of fixed
// overhead each (1.3 MiB in all).
constexpr size_t kShardBits = 14;
constexpr size_t kShardCount = size_t{1} << kShardBits;
constexpr size_t kMigrationBatch = 10000;
constexpr size_t kMaxReason = 1024;
constexpr size_t kMaxDetail = 8192;
constexpr size_t kMaxRua = 16;
constexpr size_t kMaxVantages = 64;

std::string domain_key(std::string_view d) { return std::string(kDomainPrefix).append(d); }
std::string served_key(std::string_view d) { return std::string(kServedPrefix).append(d); }
std::string last_number_key(std::string_view d) { return std::string(kLastNumberPrefix).append(d); }
std::string version_prefix(std::string_view d) { return std::string(kVersionPrefix).append(d).append("/"); }
std::string version_key(std::string_view d, uint32_t n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%010" PRIu32, n);
  return version_prefix(d) + buf;
}
std::string event_prefix(std::string_view d) { return std::string(kEventPrefix).append(d).append("/"); }
std::string event_key(std::string_view d, uint64_t seq) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020" PRIu64, seq);
  return event_prefix(d) + buf;
}

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

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
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

std::string wire_key(std::string_view domain) {
  uint8_t buf[256];
  const size_t n = wire_key_into(domain, buf);
  return std::string(reinterpret_cast<const char*>(buf), n);
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

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ---- JSON forms of the records ---------------------------------------------------------

json version_to_json(const PolicyVersion& v) {
  return json{{"number", v.number},      {"mode", std::string(mode_name(v.policy.mode))},
              {"mx", v.policy.mx},       {"max_age", v.policy.max_age},
              {"created_at", v.created_at}, {"digest", v.digest}};
}

PolicyVersion version_from_json(const json& j) {
  PolicyVersion v;
  v.number = j.at("number").get<uint32_t>();
  auto mode = mode_from_string(j.at("mode").get<std::string>());
  if (!mode) throw std::runtime_error("unknown mode");
  v.policy.mode = *mode;
  v.policy.mx = j.at("mx").get<std::vector<std::string>>();
  v.policy.max_age = j.at("max_age").get<uint32_t>();
  v.created_at = j.at("created_at").get<int64_t>();
  v.digest = j.at("digest").get<std::string>();
  return v;
}

json event_to_json(const Event& e) {
  return json{{"seq", e.seq}, {"at", e.at}, {"kind", e.kind}, {"version", e.version}, {"detail", e.detail}};
}

Event event_from_json(const json& j) {
  Event e;
  e.seq = j.at("seq").get<uint64_t>();
  e.at = j.at("at").get<int64_t>();
  e.kind = j.at("kind").get<std::string>();
  e.version = j.at("version").get<uint32_t>();
  e.detail = j.at("detail").get<std::string>();
  return e;
}

std::string summary(const Policy& p) {
  std::string out = "mode " + std::string(mode_name(p.mode)) + ", mx ";
  for (size_t i = 0; i < p.mx.size(); ++i) out += (i ? " " : "") + p.mx[i];
  return out + ", max_age " + std::to_string(p.max_age);
}

Policy normalized(const Policy& p) {
  Policy out = p;
  out.mx.clear();
  std::set<std::string> seen;
  for (const auto& pattern : p.mx) {
    std::string l = pattern;
    for (auto& c : l) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (seen.insert(l).second) out.mx.push_back(std::move(l));
  }
  return out;
}

std::string bounded(std::string_view what, std::string_view text, size_t limit) {
  if (text.size() > limit)
    throw PolicyError(std::string(what) + " is longer than " + std::to_string(limit) + " bytes");
  return std::string(text);
}

// ---- what DNS needs about one domain -----------------------------------------------------

struct Facts {
  bool confirmed = false;
  bool pending = false;                    // staged newer than confirmed (disk record only)
  uint32_t version = 0;                    // confirmed version
  std::array<uint8_t, 6> digest{};         // first 12 hex digits of its digest, as bytes
  int64_t txt_changed_at = 0;
  int64_t settings_changed_at = 0;
  int64_t created_at = 0;                  // disk record only (last_change at start-up)
  std::optional<int64_t> held_since;
  std::string tlsrpt_txt;                  // "v=TLSRPTv1; rua=..." or empty (<= 255 octets)
};

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void put_i64(std::string& out, int64_t value) {
  const auto v = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t get_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The served record on disk (little-endian): u8 format (1), u8 flags (1 confirmed,
// 2 pending, 4 held, 8 TLS-RPT), u32 confirmed version, 6 digest bytes, i64
// txt_changed_at, i64 settings_changed_at, i64 created_at, [i64 held_since],
// [u8 length + the TLS-RPT record text].
constexpr uint8_t kRecordFormat = 1;
enum : uint8_t { kRecConfirmed = 1, kRecPending = 2, kRecHeld = 4, kRecTlsrpt = 8 };

std::string encode_served_record(const Facts& f) {
  std::string out;
  out.reserve(40 + f.tlsrpt_txt.size());
  out.push_back(static_cast<char>(kRecordFormat));
  uint8_t flags = 0;
  if (f.confirmed) flags |= kRecConfirmed;
  if (f.pending) flags |= kRecPending;
  if (f.held_since) flags |= kRecHeld;
  if (!f.tlsrpt_txt.empty()) flags |= kRecTlsrpt;
  out.push_back(static_cast<char>(flags));
  put_u32(out, f.version);
  out.append(reinterpret_cast<const char*>(f.digest.data()), f.digest.size());
  put_i64(out, f.txt_changed_at);
  put_i64(out, f.settings_changed_at);
  put_i64(out, f.created_at);
  if (f.held_since) put_i64(out, *f.held_since);
  if (!f.tlsrpt_txt.empty()) {
    out.push_back(static_cast<char>(f.tlsrpt_txt.size()));
    out += f.tlsrpt_txt;
  }
  return out;
}

// False when `value` is not a served record this stsd wrote.
bool decode_served_record(std::string_view value, Facts& f) {
  const auto* p = reinterpret_cast<const uint8_t*>(value.data());
  size_t n = value.size();
  constexpr size_t kFixed = 2 + 4 + 6 + 3 * 8;
  if (n < kFixed || p[0] != kRecordFormat) return false;
  const uint8_t flags = p[1];
  if (flags & ~(kRecConfirmed | kRecPending | kRecHeld | kRecTlsrpt)) return false;
  f.confirmed = flags & kRecConfirmed;
  f.pending = flags & kRecPending;
  f.version = static_cast<uint32_t>(get_le(p + 2, 4));
  std::memcpy(f.digest.data(), p + 6, 6);
  f.txt_changed_at = static_cast<int64_t>(get_le(p + 12, 8));
  f.settings_changed_at = static_cast<int64_t>(get_le(p + 20, 8));
  f.created_at = static_cast<int64_t>(get_le(p + 28, 8));
  size_t at = kFixed;
  f.held_since.reset();
  if (flags & kRecHeld) {
    if (n < at + 8) return false;
    f.held_since = static_cast<int64_t>(get_le(p + at, 8));
    at += 8;
  }
  f.tlsrpt_txt.clear();
  if (flags & kRecTlsrpt) {
    if (n < at + 1 || p[at] == 0 || n != at + 1 + p[at]) return false;
    f.tlsrpt_txt.assign(reinterpret_cast<const char*>(p + at + 1), p[at]);
    at += 1 + p[at];
  }
  return at == n && (f.confirmed || f.version == 0);
}

// ---- the in-memory entry (packed into a shard's arena) ---------------------------------
//
//   0  u8  wire name length        1  u8  flags (kEntry*)     2  u8  TLS-RPT text length
//   3  u8  unused                  4  u32 ancestor count (domains strictly below this name)
//   8  u32 confirmed version      12  6 digest bytes          18  i64 txt_changed_at
//  26  i64 settings_changed_at    34  [i64 held_since]  then the wire name, then the
//  TLS-RPT TXT rdata (length octet + text); the entry is padded to a multiple of 8.
// Fields are read with memcpy (no alignment or aliasing assumptions).
enum : uint8_t { kEntryDomain = 1, kEntryConfirmed = 2, kEntryHeld = 4 };
constexpr size_t kOffFlags = 1, kOffTlsLen = 2, kOffAncestors = 4, kOffVersion = 8, kOffDigest = 12,
                 kOffTxtChanged = 18, kOffSettingsChanged = 26, kEntryFixed = 34;

template <class T>
T load_at(const std::byte* entry, size_t offset) noexcept {
  T v;
  std::memcpy(&v, entry + offset, sizeof v);
  return v;
}
uint8_t entry_u8(const std::byte* e, size_t offset) noexcept { return static_cast<uint8_t>(e[offset]); }
size_t entry_name_offset(const std::byte* e) noexcept {
  return kEntryFixed + ((entry_u8(e, kOffFlags) & kEntryHeld) ? 8 : 0);
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
  const size_t tls = facts ? facts->tlsrpt_txt.size() : 0;
  const size_t start = out.size();
  const size_t size = round8(kEntryFixed + (held ? 8 : 0) + name.size() + (tls ? 1 + tls : 0));
  out.resize(start + size, std::byte{0});
  std::byte* e = out.data() + start;
  uint8_t flags = 0;
  if (facts) flags |= kEntryDomain;
  if (facts && facts->confirmed) flags |= kEntryConfirmed;
  if (held) flags |= kEntryHeld;
  e[0] = static_cast<std::byte>(name.size());
  e[kOffFlags] = static_cast<std::byte>(flags);
  e[kOffTlsLen] = static_cast<std::byte>(tls);
  std::memcpy(e + kOffAncestors, &ancestors, 4);
  if (facts) {
    std::memcpy(e + kOffVersion, &facts->version, 4);
    std::memcpy(e + kOffDigest, facts->digest.data(), 6);
    std::memcpy(e + kOffTxtChanged, &facts->txt_changed_at, 8);
    std::memcpy(e + kOffSettingsChanged, &facts->settings_changed_at, 8);
    if (held) std::memcpy(e + kEntryFixed, &*facts->held_since, 8);
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
  if (flags & kEntryHeld) f.held_since = load_at<int64_t>(e, kEntryFixed);
  if (const size_t tls = entry_u8(e, kOffTlsLen))
    f.tlsrpt_txt.assign(reinterpret_cast<const char*>(e + entry_name_offset(e) + entry_u8(e, 0) + 1), tls);
  return f;
}

// One immutable shard: `slots` 32-bit slots (8-bit hash tag << 24 | entry offset in 8-byte
// words + 1; 0 = empty; linear probing, load <= 3/4), then the arena of entries.
struct Shard {
  uint32_t mask = 0;          // slots - 1
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

}  // namespace

// ---------------------------------------------------------------------------------------

// A domain's full state, read from RocksDB when a writer or an admin read needs it.
struct DomainRecord {
  DomainSettings settings;
  int64_t created_at = 0;
  std::shared_ptr<const PolicyVersion> staged, confirmed;
  std::optional<Confirmation> confirmation;
  std::optional<Hold> hold;
  uint32_t last_number = 0;
  int64_t txt_changed_at = 0;
  int64_t settings_changed_at = 0;
};

namespace {

json record_to_json(const DomainRecord& r) {
  json j{{"created_at", r.created_at},
         {"tlsrpt_rua", r.settings.tlsrpt_rua},
         {"vantages", r.settings.vantages},
         {"staged", r.staged ? r.staged->number : 0},
         {"confirmed", r.confirmed ? r.confirmed->number : 0},
         {"last_number", r.last_number},
         {"txt_changed_at", r.txt_changed_at},
         {"settings_changed_at", r.settings_changed_at}};
  if (r.confirmation)
    j["confirmation"] = json{{"version", r.confirmation->version},
                             {"at", r.confirmation->at},
                             {"manual", r.confirmation->manual},
                             {"reason", r.confirmation->reason}};
  if (r.hold) j["hold"] = json{{"reason", r.hold->reason}, {"since", r.hold->since}};
  return j;
}

bool is_pending(const DomainRecord& r) {
  return r.staged && (!r.confirmed || r.staged->number > r.confirmed->number);
}

Facts facts_of(const DomainRecord& r) {
  Facts f;
  if (r.confirmed) {
    f.confirmed = true;
    f.version = r.confirmed->number;
    // The id shows at most 12 hex digits of the digest (state.h): 6 bytes hold them.
    const std::string& hex = r.confirmed->digest;
    for (size_t i = 0; i < 12; ++i) {
      const int v = i < hex.size() ? hex_value(hex[i]) : 0;
      if (v < 0) throw StoreError("version " + std::to_string(r.confirmed->number) + " has a digest that is not hex");
      f.digest[i / 2] = static_cast<uint8_t>(f.digest[i / 2] | (v << (i % 2 ? 0 : 4)));
    }
  }
  f.pending = is_pending(r);
  f.txt_changed_at = r.txt_changed_at;
  f.settings_changed_at = r.settings_changed_at;
  f.created_at = r.created_at;
  if (r.hold) f.held_since = r.hold->since;
  f.tlsrpt_txt = tlsrpt_record(r.settings.tlsrpt_rua);
  return f;
}

}  // namespace

struct PolicyState::Impl {
  struct Subscribers {
    std::recursive_mutex mutex;
    uint64_t next_id = 1;
    std::map<uint64_t, std::function<void(const std::string&)>> callbacks;
  };
  // A change to one shard, applied by publish().
  struct Op {
    enum Kind : uint8_t { Upsert, Remove, AncestorUp, AncestorDown } kind;
    std::string name;   // wire labels
    Facts facts;        // Upsert
  };

  explicit Impl(rocksdb::DB& database)
      : db(database), shards(new std::atomic<std::shared_ptr<const Shard>>[kShardCount]) {
    auto empty = empty_shard();
    for (size_t i = 0; i < kShardCount; ++i) shards[i].store(empty, std::memory_order_relaxed);
  }

  static std::shared_ptr<const Shard> empty_shard() {
    static const std::shared_ptr<const Shard> empty = build_shard({});
    return empty;
  }

  rocksdb::DB& db;
  mutable std::mutex mutex;                    // writers; `pending`, `ops`, `count`
  uint64_t event_seq = 0;
  std::atomic<int64_t> rotation_seconds{86400};
  size_t name_room = 11;                       // `_smtp._tls.` (NS delegation)
  std::string name_room_why = "_smtp._tls.<domain>. must fit in 255 octets";

  std::unique_ptr<std::atomic<std::shared_ptr<const Shard>>[]> shards;
  std::map<size_t, std::vector<Op>> ops;       // by shard, applied in order by publish()
  std::set<std::string> pending;               // domains whose staged version is unconfirmed
  size_t count = 0;                            // domains in the store

  std::shared_ptr<Subscribers> subscribers = std::make_shared<Subscribers>();

  // Calls every subscriber with each changed domain, outside the store lock. The
  // subscribers' mutex is recursive so that a callback may itself write to the store.
  static void notify(Subscribers& subs, const std::vector<std::string>& domains) {
    std::lock_guard lock(subs.mutex);
    std::vector<uint64_t> ids;
    for (const auto& [id, callback] : subs.callbacks) ids.push_back(id);
    for (const auto& domain : domains) {
      for (uint64_t id : ids) {
        auto it = subs.callbacks.find(id);   // a callback may have unsubscribed another
        if (it == subs.callbacks.end()) continue;
        auto callback = it->second;
        try {
          callback(domain);
        } catch (const std::exception& e) {
          log::f(log::Level::Error, "mtasts: a change subscriber failed for %s: %s", domain.c_str(), e.what());
        }
      }
    }
  }

  // ---- the index (lock-free reads) ----
  // The entry for `name` and the shard holding it (entry null when absent).
  std::pair<std::shared_ptr<const Shard>, const std::byte*> lookup(std::span<const uint8_t> name) const noexcept {
    const uint64_t hash = hash_name(name);
    auto shard = shards[shard_of(hash)].load(std::memory_order_acquire);
    const std::byte* entry = shard->find(name, hash);
    return {std::move(shard), entry};
  }
  bool contains(std::string_view domain) const noexcept {
    uint8_t key[256];
    const size_t n = wire_key_into(domain, key);
    if (n == 0) return false;
    auto [shard, entry] = lookup({key, n});
    return entry && (entry_u8(entry, kOffFlags) & kEntryDomain);
  }

  // ---- store helpers ----
  std::optional<std::string> get(std::string_view key, const rocksdb::Snapshot* snapshot = nullptr) const {
    std::string value;
    rocksdb::ReadOptions options;
    options.snapshot = snapshot;
    auto s = db.Get(options, rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) throw StoreError("store read of " + std::string(key) + " failed: " + s.ToString());
    return value;
  }

  void commit(rocksdb::WriteBatch& batch, bool sync = true) {
    rocksdb::WriteOptions options;
    options.sync = sync;   // durable when acknowledged (issue 3: survives kill -9)
    auto s = db.Write(options, &batch);
    if (!s.ok()) throw StoreError("store write failed (nothing changed): " + s.ToString());
  }

  std::optional<PolicyVersion> load_version(std::string_view domain, uint32_t number,
                                            const rocksdb::Snapshot* snapshot = nullptr) const {
    auto value = get(version_key(domain, number), snapshot);
    if (!value) return std::nullopt;
    try {
      return version_from_json(json::parse(*value));
    } catch (const std::exception& e) {
      throw StoreError("store record " + version_key(domain, number) + " is corrupt: " + e.what());
    }
  }

  // The domain's record and the versions it points to, from RocksDB (one snapshot when
  // given); nullopt when the domain is not in the store.
  std::optional<DomainRecord> load_record(const std::string& domain, const rocksdb::Snapshot* snapshot = nullptr) const {
    const std::string key = domain_key(domain);
    auto value = get(key, snapshot);
    if (!value) return std::nullopt;
    DomainRecord r;
    uint32_t staged = 0, confirmed = 0;
    try {
      const auto j = json::parse(*value);
      r.created_at = j.at("created_at").get<int64_t>();
      r.settings.tlsrpt_rua = j.at("tlsrpt_rua").get<std::vector<std::string>>();
      r.settings.vantages = j.at("vantages").get<std::vector<std::string>>();
      staged = j.at("staged").get<uint32_t>();
      confirmed = j.at("confirmed").get<uint32_t>();
      r.last_number = j.at("last_number").get<uint32_t>();
      r.txt_changed_at = j.at("txt_changed_at").get<int64_t>();
      r.settings_changed_at = j.at("settings_changed_at").get<int64_t>();
      if (j.contains("confirmation")) {
        const auto& c = j["confirmation"];
        r.confirmation = Confirmation{c.at("version").get<uint32_t>(), c.at("at").get<int64_t>(),
                                      c.at("manual").get<bool>(), c.at("reason").get<std::string>()};
      }
      if (j.contains("hold")) r.hold = Hold{j["hold"].at("reason").get<std::string>(), j["hold"].at("since").get<int64_t>()};
    } catch (const std::exception& e) {
      throw StoreError("store record " + key + " is corrupt: " + e.what());
    }
    if (staged) {
      if (auto v = load_version(domain, staged, snapshot)) r.staged = std::make_shared<const PolicyVersion>(std::move(*v));
      if (!r.staged)
        throw StoreError("store is inconsistent: " + domain + " staged version " + std::to_string(staged) + " is missing");
    }
    if (confirmed) {
      if (confirmed == staged)
        r.confirmed = r.staged;
      else if (auto v = load_version(domain, confirmed, snapshot))
        r.confirmed = std::make_shared<const PolicyVersion>(std::move(*v));
      if (!r.confirmed)
        throw StoreError("store is inconsistent: " + domain + " confirmed version " + std::to_string(confirmed) +
                         " is missing");
    }
    return r;
  }

  void put_record(rocksdb::WriteBatch& batch, const std::string& domain, const DomainRecord& r) {
    batch.Put(domain_key(domain), record_to_json(r).dump());
  }

  // Appends an event to `batch`; `pending` counts the events already in this batch.
  Event add_event(rocksdb::WriteBatch& batch, uint64_t& pending_events, const std::string& domain, std::string kind,
                  uint32_t version, std::string detail, int64_t at) {
    Event e{event_seq + ++pending_events, at, std::move(kind), version, std::move(detail)};
    batch.Put(event_key(domain, e.seq), event_to_json(e).dump());
    batch.Put(std::string(kEventSeqKey), std::to_string(e.seq));
    return e;
  }

  // ---- validation ----
  std::string checked_domain(std::string_view domain) const { return normalize_domain(domain); }

  void check_name_room(const std::string& domain) const {
    if (domain.size() + 2 + name_room > 255)
      throw PolicyError("domain '" + domain + "' is too long: " + name_room_why + " (" +
                        std::to_string(domain.size() + 2 + name_room) + " octets)");
  }

  static DomainSettings checked_settings(const std::string& domain, const DomainSettings& s) {
    if (s.tlsrpt_rua.size() > kMaxRua)
      throw PolicyError(domain + ": at most " + std::to_string(kMaxRua) + " TLS-RPT rua URIs");
    for (const auto& uri : s.tlsrpt_rua) {
      auto error = tlsrpt_rua_error(uri);
      if (!error.empty()) throw PolicyError(domain + ": " + error);
    }
    // One TXT character-string holds 255 octets; a single string is what every reader
    // handles (MTA-STS-FACTS.md), so the record must fit in one.
    const auto record = tlsrpt_record(s.tlsrpt_rua);
    if (record.size() > 255)
      throw PolicyError(domain + ": the TLS-RPT record '" + record + "' is longer than 255 characters");
    if (s.vantages.size() > kMaxVantages)
      throw PolicyError(domain + ": at most " + std::to_string(kMaxVantages) + " vantages");
    for (const auto& v : s.vantages) {
      auto error = vantage_error(v);
      if (!error.empty()) throw PolicyError(domain + ": " + error);
    }
    return s;
  }

  static Policy checked_policy(const std::string& domain, const Policy& policy) {
    auto errors = policy_errors(policy);
    if (!errors.empty()) {
      std::string message = domain + ": ";
      for (size_t i = 0; i < errors.size(); ++i) message += (i ? "; " : "") + errors[i].message;
      throw PolicyError(message);
    }
    return normalized(policy);
  }

  // Writers read the record from RocksDB (under the writer mutex, so it is current).
  DomainRecord existing(const std::string& domain) const {
    auto r = load_record(domain);
    if (!r) throw PolicyError("domain '" + domain + "' is not in the store (add it first)");
    return std::move(*r);
  }

  // ---- the one write path: batch, commit, index ----
  // Adds the served record of `domain` (nullptr: removed) to `batch`.
  static void add_served(rocksdb::WriteBatch& batch, const std::string& domain, const Facts* facts) {
    if (facts) batch.Put(served_key(domain), encode_served_record(*facts));
    else batch.Delete(served_key(domain));
  }

  // Queues the index change of a committed write (`facts` null: removed).
  void queue_served(const std::string& domain, const Facts* facts) {
    const std::string wire = wire_key(domain);
    const bool present = contains(domain);   // the published state (ops are published per write)
    const size_t shard = shard_of(hash_name(as_bytes(wire)));
    if (facts) {
      ops[shard].push_back(Op{Op::Upsert, wire, *facts});
      if (facts->pending) pending.insert(domain);
      else pending.erase(domain);
      if (!present) {
        ++count;
        for_each_ancestor(wire, [&](std::string_view a) {
          ops[shard_of(hash_name(as_bytes(a)))].push_back(Op{Op::AncestorUp, std::string(a), {}});
        });
      }
    } else if (present) {
      ops[shard].push_back(Op{Op::Remove, wire, {}});
      pending.erase(domain);
      --count;
      for_each_ancestor(wire, [&](std::string_view a) {
        ops[shard_of(hash_name(as_bytes(a)))].push_back(Op{Op::AncestorDown, std::string(a), {}});
      });
    }
  }

  // The one way a single-domain write lands: the served record joins the batch, the
  // synced batch is written (a failure throws before memory changes), then the index
  // changes and readers see it.
  void apply(rocksdb::WriteBatch& batch, uint64_t pending_events, const std::string& domain,
             std::optional<DomainRecord> record) {
    std::optional<Facts> facts;
    if (record) facts = facts_of(*record);
    add_served(batch, domain, facts ? &*facts : nullptr);
    commit(batch);
    event_seq += pending_events;
    queue_served(domain, facts ? &*facts : nullptr);
    publish();
  }

  // Rebuilds every shard with queued ops and publishes it (release order: a reader that
  // sees the new shard sees its contents).
  void publish() {
    struct Item {
      std::string_view name;
      bool domain;
      uint32_t ancestors;
      const std::byte* old_entry;   // facts from the old shard, or
      const Facts* facts;           // from an op
    };
    std::vector<Item> items;
    std::vector<std::byte> scratch;
    std::vector<size_t> offsets;
    std::vector<std::span<const std::byte>> entries;
    for (auto& [index, shard_ops] : ops) {
      const auto old = shards[index].load(std::memory_order_acquire);
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
            if (it == items.end()) items.push_back(Item{op.name, true, 0, nullptr, &op.facts});
            else it->domain = true, it->old_entry = nullptr, it->facts = &op.facts;
            break;
          case Op::Remove:
            if (it != items.end()) it->domain = false;
            break;
          case Op::AncestorUp:
            if (it == items.end()) items.push_back(Item{op.name, false, 1, nullptr, nullptr});
            else ++it->ancestors;
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
      shards[index].store(entries.empty() ? empty_shard() : build_shard(entries), std::memory_order_release);
    }
    ops.clear();
  }

  // ---- start-up ----
  // Schema 1 -> 2: writes the served record of every domain (built from its JSON record and
  // versions), in batches, then the schema key. Interrupted, it starts over at the next
  // open (schema still 1): every step is idempotent.
  void migrate_from_schema_1() {
    log::f(log::Level::Info, "mtasts: migrating the store from schema 1 to 2 (served records)");
    rocksdb::WriteBatch batch;
    size_t in_batch = 0, migrated = 0;
    const auto flush = [&](bool last) {
      commit(batch, last);   // only the last batch (with the schema key) needs to be synced
      batch.Clear();
      in_batch = 0;
    };
    {
      // Leftovers of an interrupted migration (a domain removed since by an older stsd).
      std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
      for (it->Seek(std::string(kServedPrefix)); it->Valid() && it->key().starts_with(std::string(kServedPrefix)); it->Next()) {
        batch.Delete(it->key());
        if (++in_batch >= kMigrationBatch) flush(false);
      }
      if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
    }
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(std::string(kDomainPrefix)); it->Valid() && it->key().starts_with(std::string(kDomainPrefix)); it->Next()) {
      const std::string domain = it->key().ToString().substr(kDomainPrefix.size());
      auto r = load_record(domain);
      if (!r) continue;
      const Facts facts = facts_of(*r);
      add_served(batch, domain, &facts);
      ++migrated;
      if (++in_batch >= kMigrationBatch) flush(false);
    }
    if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
    batch.Put(std::string(kSchemaKey), "2");
    flush(true);
    log::f(log::Level::Info, "mtasts: migrated %zu domains to schema 2", migrated);
  }

  // Builds the whole index from the served records: one sequential scan. Returns the
  // newest change time seen (service-zone SOA serial).
  int64_t load_index() {
    struct Ref {
      uint32_t shard;
      uint32_t offset_words;   // into scratch
    };
    std::vector<std::byte> scratch;   // every entry, packed (freed when done)
    std::vector<Ref> refs;
    std::unordered_map<std::string, uint32_t> ancestors;
    int64_t newest = 0;
    Facts facts;
    rocksdb::ReadOptions options;
    options.fill_cache = false;            // read once: do not evict what later reads need
    options.readahead_size = 4 << 20;      // large sequential reads
    const rocksdb::Slice upper(kServedEnd.data(), kServedEnd.size());
    options.iterate_upper_bound = &upper;
    {
      // Room for every entry up front (a served record on disk is about the size of its
      // entry): growing a vector of ~60 MiB would copy it and fault its pages again.
      const std::string from(kServedPrefix);
      const rocksdb::Range range(from, rocksdb::Slice(kServedEnd.data(), kServedEnd.size()));
      uint64_t bytes = 0;
      rocksdb::SizeApproximationOptions approximation;
      approximation.include_memtables = true;
      if (db.GetApproximateSizes(approximation, db.DefaultColumnFamily(), &range, 1, &bytes).ok())
        scratch.reserve(std::min<uint64_t>(bytes + bytes / 2, uint64_t{1} << 34));
    }
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(options));
    for (it->Seek(std::string(kServedPrefix)); it->Valid(); it->Next()) {
      const auto key = it->key();
      const std::string_view domain(key.data() + kServedPrefix.size(), key.size() - kServedPrefix.size());
      uint8_t wire[256];
      const size_t n = wire_key_into(domain, wire);
      bool lower = n > 0;
      for (char c : domain) lower = lower && !(c >= 'A' && c <= 'Z');
      if (!lower || !decode_served_record(std::string_view(it->value().data(), it->value().size()), facts))
        throw StoreError("store record " + key.ToString() + " is corrupt (not a served record of a domain)");
      newest = std::max({newest, facts.txt_changed_at, facts.settings_changed_at, facts.created_at});
      if (facts.pending) pending.emplace(domain);
      if (scratch.size() / 8 >= UINT32_MAX - 64) throw StoreError("too many domains for the served index");
      refs.push_back(Ref{static_cast<uint32_t>(shard_of(hash_name({wire, n}))), static_cast<uint32_t>(scratch.size() / 8)});
      append_entry(scratch, {wire, n}, &facts, 0);
      for_each_ancestor(as_text({wire, n}), [&](std::string_view a) { ++ancestors[std::string(a)]; });
      ++count;
    }
    if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
    it.reset();
    // Group by shard (counting sort).
    std::vector<uint32_t> first(kShardCount + 1, 0);
    for (const auto& ref : refs) ++first[ref.shard + 1];
    for (size_t i = 0; i < kShardCount; ++i) first[i + 1] += first[i];
    std::vector<uint32_t> order(refs.size());
    {
      std::vector<uint32_t> next(first.begin(), first.end() - 1);
      for (const auto& ref : refs) order[next[ref.shard]++] = ref.offset_words;
    }
    refs = {};
    // Ancestors: a count on the domain entry of the same name, else an entry of their own.
    std::vector<std::vector<uint32_t>> extra(kShardCount);   // ancestor-only entries per shard
    for (const auto& [name, n] : ancestors) {
      const size_t s = shard_of(hash_name(as_bytes(name)));
      bool found = false;
      for (uint32_t i = first[s]; i < first[s + 1] && !found; ++i) {
        std::byte* e = scratch.data() + size_t{order[i]} * 8;
        if (as_text(entry_name(e)) == name) {
          std::memcpy(e + kOffAncestors, &n, 4);
          found = true;
        }
      }
      if (found) continue;
      extra[s].push_back(static_cast<uint32_t>(scratch.size() / 8));
      append_entry(scratch, as_bytes(name), nullptr, n);
    }
    std::vector<std::span<const std::byte>> entries;
    const auto entry_at = [&](uint32_t words) {
      const std::byte* e = scratch.data() + size_t{words} * 8;
      return std::span<const std::byte>(e, entry_size(e));
    };
    for (size_t s = 0; s < kShardCount; ++s) {
      entries.clear();
      for (uint32_t i = first[s]; i < first[s + 1]; ++i) entries.push_back(entry_at(order[i]));
      for (uint32_t at : extra[s]) entries.push_back(entry_at(at));
      if (!entries.empty()) shards[s].store(build_shard(entries), std::memory_order_release);
    }
    return newest;
  }
};

// ---------------------------------------------------------------------------------------
// ServedView: the DNS facts of one domain, read in place from its shard.

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
int64_t ServedView::effective_period(int64_t unix_now, std::chrono::seconds rotation) const noexcept {
  const auto held = held_since();
  return period_start(held ? *held : unix_now, rotation);
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
}  // namespace

size_t ServedView::id_at(int64_t unix_now, std::chrono::seconds rotation, char (&out)[kMaxIdLength]) const noexcept {
  if (!has_confirmed()) return 0;
  const int64_t period = effective_period(unix_now, rotation);
  // The period prefix ("YYYYMMDD"...) is the same for every unheld domain for a whole
  // period: format it once per thread and period, not per query.
  struct PrefixCache {
    int64_t period;
    int64_t rotation;
    size_t length;
    char text[16];
  };
  thread_local PrefixCache cache{INT64_MIN, 0, 0, {}};
  if (cache.period != period || cache.rotation != rotation.count()) {
    cache.length = detail::format_period_prefix(cache.text, period, rotation);
    cache.period = period;
    cache.rotation = rotation.count();
  }
  std::memcpy(out, cache.text, 14);
  size_t len = detail::append_version(out, cache.length, load_at<uint32_t>(entry_, kOffVersion));
  out[len++] = 'd';
  // The digest fragment: 12 hex digits, or as many as fit in 32 characters.
  char hex[12];
  for (size_t i = 0; i < 6; ++i) std::memcpy(hex + 2 * i, kHexPairs.data() + 2 * entry_u8(entry_, kOffDigest + i), 2);
  const size_t fragment = std::min<size_t>(12, kMaxIdLength - len);
  std::memcpy(out + len, hex, fragment);
  return len + fragment;
}

// ---------------------------------------------------------------------------------------

std::shared_ptr<PolicyState> PolicyState::get(Environment& env) {
  // Open the store before entering env.shared: its factory runs under the environment's
  // lock, which database() takes too.
  rocksdb::DB& db = env.database();
  return env.shared<PolicyState>("mtasts.state", [&] { return std::make_shared<PolicyState>(db, env.clock_ptr()); });
}

PolicyState::PolicyState(rocksdb::DB& db, std::shared_ptr<Clock> clock)
    : impl_(std::make_unique<Impl>(db)), clock_(std::move(clock)) {
  auto& s = *impl_;
  // Schema: refuse what a newer stsd wrote rather than misread it; migrate an older one.
  if (auto schema = s.get(kSchemaKey)) {
    uint32_t found = 0;
    try {
      found = static_cast<uint32_t>(std::stoul(*schema));
    } catch (const std::exception&) {
      throw StoreError("store key mtasts/schema holds '" + *schema + "', not a schema version");
    }
    if (found > kSchemaVersion)
      throw StoreError("the store was written by a newer stsd (mtasts schema " + std::to_string(found) +
                       "; this stsd understands up to " + std::to_string(kSchemaVersion) +
                       "): upgrade stsd or restore a matching backup");
    if (found < 1) throw StoreError("store key mtasts/schema holds '" + *schema + "', not a schema version");
    if (found == 1) s.migrate_from_schema_1();
  } else {
    rocksdb::WriteBatch batch;
    batch.Put(std::string(kSchemaKey), std::to_string(kSchemaVersion));
    s.commit(batch);
  }
  if (auto seq = s.get(kEventSeqKey)) {
    try {
      s.event_seq = std::stoull(*seq);
    } catch (const std::exception&) {
      throw StoreError("store key mtasts/event_seq holds '" + *seq + "', not a number");
    }
  }
  const auto started = std::chrono::steady_clock::now();
  const int64_t newest = s.load_index();
  log::f(log::Level::Info, "mtasts: served index of %zu domains loaded in %.2f s", s.count,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  domain_count_.store(s.count, std::memory_order_release);
  last_change_.store(newest, std::memory_order_release);
}

PolicyState::~PolicyState() = default;

void PolicyState::add_domain(std::string_view domain_text, const DomainSettings& settings_in) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    if (s.contains(domain)) throw PolicyError("domain '" + domain + "' is already in the store");
    s.check_name_room(domain);
    DomainRecord r;
    r.settings = s.checked_settings(domain, settings_in);
    const int64_t now = unix_seconds(clock_->now());
    r.created_at = r.settings_changed_at = r.txt_changed_at = now;
    if (auto last = s.get(last_number_key(domain))) r.last_number = static_cast<uint32_t>(std::stoul(*last));
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    s.put_record(batch, domain, r);
    batch.Delete(last_number_key(domain));
    std::string detail = r.settings.tlsrpt_rua.empty() ? "" : tlsrpt_record(r.settings.tlsrpt_rua);
    s.add_event(batch, pending, domain, "domain_added", 0, detail, now);
    s.apply(batch, pending, domain, std::move(r));
    domain_count_.store(s.count, std::memory_order_release);
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

void PolicyState::update_settings(std::string_view domain_text, const DomainSettings& settings_in) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    DomainRecord r = s.existing(domain);
    r.settings = s.checked_settings(domain, settings_in);
    const int64_t now = unix_seconds(clock_->now());
    r.settings_changed_at = now;
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    s.put_record(batch, domain, r);
    std::string detail = "tlsrpt: " + (r.settings.tlsrpt_rua.empty() ? std::string("none") : tlsrpt_record(r.settings.tlsrpt_rua)) +
                         "; vantages: " + std::to_string(r.settings.vantages.size());
    s.add_event(batch, pending, domain, "settings_updated", 0, detail, now);
    s.apply(batch, pending, domain, std::move(r));
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

void PolicyState::remove_domain(std::string_view domain_text) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    const DomainRecord& r = s.existing(domain);
    const int64_t now = unix_seconds(clock_->now());
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    batch.Delete(domain_key(domain));
    const std::string prefix = version_prefix(domain);
    std::unique_ptr<rocksdb::Iterator> it(s.db.NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) batch.Delete(it->key());
    if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
    // Keep the numbering so a re-added domain never reuses a version number.
    batch.Put(last_number_key(domain), std::to_string(r.last_number));
    s.add_event(batch, pending, domain, "removed", 0, "", now);
    s.apply(batch, pending, domain, std::nullopt);
    domain_count_.store(s.count, std::memory_order_release);
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

StageResult PolicyState::stage(std::string_view domain_text, const Policy& policy_in, bool skip_if_unchanged) {
  std::string domain;
  StageResult result;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    DomainRecord r = s.existing(domain);
    const Policy policy = s.checked_policy(domain, policy_in);
    result.warnings = policy_warnings(policy_in, r.confirmed ? &r.confirmed->policy : nullptr);
    if (skip_if_unchanged && r.staged && same_policy(r.staged->policy, policy)) {
      result.version = r.staged->number;
      result.created = false;
      return result;
    }
    if (r.last_number == UINT32_MAX) throw PolicyError(domain + ": version numbers exhausted");
    const int64_t now = unix_seconds(clock_->now());
    PolicyVersion v{r.last_number + 1, policy, now, policy_digest(policy)};
    r.last_number = v.number;
    r.staged = std::make_shared<const PolicyVersion>(v);
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    batch.Put(version_key(domain, v.number), version_to_json(v).dump());
    s.put_record(batch, domain, r);
    s.add_event(batch, pending, domain, "staged", v.number, summary(policy) + ", digest " + v.digest.substr(0, 12), now);
    s.apply(batch, pending, domain, std::move(r));
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    result.version = v.number;
    result.created = true;
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
  return result;
}

void PolicyState::confirm(std::string_view domain_text, uint32_t version, bool manual, std::string_view reason_in,
                          std::string_view detail_in) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    DomainRecord r = s.existing(domain);
    const std::string reason = bounded("reason", reason_in, kMaxReason);
    const std::string detail = bounded("detail", detail_in, kMaxDetail);
    if (manual && reason.empty()) throw PolicyError(domain + ": a manual confirmation needs a reason");
    if (r.confirmed && version < r.confirmed->number)
      throw PolicyError(domain + ": version " + std::to_string(version) + " is older than the confirmed version " +
                        std::to_string(r.confirmed->number) + " (to roll back, stage the old policy again)");
    std::shared_ptr<const PolicyVersion> target;
    if (r.staged && r.staged->number == version)
      target = r.staged;
    else if (r.confirmed && r.confirmed->number == version)
      target = r.confirmed;
    else if (version >= 1 && version <= r.last_number)
      if (auto v = s.load_version(domain, version)) target = std::make_shared<const PolicyVersion>(std::move(*v));
    if (!target) throw PolicyError(domain + ": there is no version " + std::to_string(version));
    const int64_t now = unix_seconds(clock_->now());
    const bool moves = !r.confirmed || r.confirmed->number != version;
    r.confirmed = target;
    r.confirmation = Confirmation{version, now, manual, reason};
    if (moves || r.hold) r.txt_changed_at = now;
    const bool released = r.hold.has_value();
    r.hold.reset();   // a confirmation says what is served now: nothing left to hold for
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    s.put_record(batch, domain, r);
    std::string event_detail = reason;
    if (!detail.empty()) event_detail += (event_detail.empty() ? "" : ": ") + detail;
    s.add_event(batch, pending, domain, manual ? "manual_confirm" : "confirmed", version, event_detail, now);
    if (released) s.add_event(batch, pending, domain, "hold_released", version, "released by the confirmation", now);
    s.apply(batch, pending, domain, std::move(r));
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

void PolicyState::record_event(std::string_view domain_text, std::string_view kind, uint32_t version,
                               std::string_view detail) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    s.existing(domain);
    if (kind.empty() || kind.size() > 32 ||
        !std::all_of(kind.begin(), kind.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }))
      throw PolicyError("event kind '" + std::string(kind) + "' must be 1-32 characters of a-z, 0-9 and _");
    const int64_t now = unix_seconds(clock_->now());
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    s.add_event(batch, pending, domain, std::string(kind), version, bounded("detail", detail, kMaxDetail), now);
    s.commit(batch);
    s.event_seq += pending;
  }
}

void PolicyState::set_hold(std::string_view domain_text, std::optional<std::string> reason) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    DomainRecord r = s.existing(domain);
    const int64_t now = unix_seconds(clock_->now());
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    if (reason) {
      const std::string text = bounded("hold reason", *reason, kMaxReason);
      if (text.empty()) throw PolicyError(domain + ": a hold needs a reason");
      if (!r.confirmed) throw PolicyError(domain + ": nothing is confirmed, so there is no id to hold");
      if (r.hold && r.hold->reason == text) return;   // already held for this reason
      if (!r.hold) r.hold = Hold{text, now};
      else r.hold->reason = text;                     // keeps `since`: the id stays frozen
      s.add_event(batch, pending, domain, "hold", r.confirmed->number, text, now);
    } else {
      if (!r.hold) return;
      r.hold.reset();
      r.txt_changed_at = now;   // the id jumps to the current period
      s.add_event(batch, pending, domain, "hold_released", r.confirmed ? r.confirmed->number : 0, "", now);
    }
    s.put_record(batch, domain, r);
    s.apply(batch, pending, domain, std::move(r));
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

std::vector<ImportResult> PolicyState::import(const std::vector<ImportItem>& items, bool confirm_now,
                                              std::string_view reason_in) {
  std::vector<ImportResult> results;
  std::vector<std::string> changed;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    const std::string reason = bounded("reason", reason_in, kMaxReason);
    if (confirm_now && reason.empty()) throw PolicyError("confirming imported policies needs a reason");
    // Validate everything first: a bad item changes nothing.
    struct Checked {
      std::string domain;
      std::optional<DomainSettings> settings;
      Policy policy;
    };
    std::vector<Checked> checked;
    checked.reserve(items.size());
    std::set<std::string> seen;
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string where = "item " + std::to_string(i + 1) + ": ";
      try {
        Checked c;
        c.domain = s.checked_domain(items[i].domain);
        if (!seen.insert(c.domain).second) throw PolicyError("domain '" + c.domain + "' appears twice in one import batch");
        if (!s.contains(c.domain)) s.check_name_room(c.domain);
        if (items[i].settings) c.settings = s.checked_settings(c.domain, *items[i].settings);
        c.policy = s.checked_policy(c.domain, items[i].policy);
        checked.push_back(std::move(c));
      } catch (const PolicyError& e) {
        throw PolicyError(where + e.what());
      }
    }
    const int64_t now = unix_seconds(clock_->now());
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    std::vector<std::pair<std::string, DomainRecord>> updated;
    for (size_t i = 0; i < checked.size(); ++i) {
      auto& c = checked[i];
      ImportResult res;
      res.domain = c.domain;
      DomainRecord r;
      bool changed_record = false;
      if (s.contains(c.domain)) {
        r = s.existing(c.domain);
        if (c.settings && (c.settings->tlsrpt_rua != r.settings.tlsrpt_rua || c.settings->vantages != r.settings.vantages)) {
          r.settings = *c.settings;
          r.settings_changed_at = now;
          s.add_event(batch, pending, c.domain, "settings_updated", 0, "import", now);
          changed_record = true;
        }
      } else {
        if (c.settings) r.settings = *c.settings;
        r.created_at = r.settings_changed_at = r.txt_changed_at = now;
        if (auto last = s.get(last_number_key(c.domain))) r.last_number = static_cast<uint32_t>(std::stoul(*last));
        batch.Delete(last_number_key(c.domain));
        s.add_event(batch, pending, c.domain, "domain_added", 0, "import", now);
        res.domain_added = true;
        changed_record = true;
      }
      res.stage.warnings = policy_warnings(items[i].policy, r.confirmed ? &r.confirmed->policy : nullptr);
      if (r.staged && same_policy(r.staged->policy, c.policy)) {
        res.stage.version = r.staged->number;
      } else {
        if (r.last_number == UINT32_MAX) throw PolicyError("item " + std::to_string(i + 1) + ": version numbers exhausted");
        PolicyVersion v{r.last_number + 1, c.policy, now, policy_digest(c.policy)};
        r.last_number = v.number;
        r.staged = std::make_shared<const PolicyVersion>(v);
        batch.Put(version_key(c.domain, v.number), version_to_json(v).dump());
        s.add_event(batch, pending, c.domain, "staged", v.number, summary(c.policy) + ", digest " + v.digest.substr(0, 12) + " (import)", now);
        res.stage.version = v.number;
        res.stage.created = true;
        changed_record = true;
      }
      if (confirm_now && r.staged && (!r.confirmed || r.confirmed->number < r.staged->number)) {
        r.confirmed = r.staged;
        r.confirmation = Confirmation{r.staged->number, now, true, reason};
        r.txt_changed_at = now;
        r.hold.reset();
        s.add_event(batch, pending, c.domain, "manual_confirm", r.staged->number, reason + " (import)", now);
        res.confirmed = true;
        changed_record = true;
      }
      if (changed_record) {
        s.put_record(batch, c.domain, r);
        updated.emplace_back(c.domain, std::move(r));
      }
      results.push_back(std::move(res));
    }
    if (updated.empty()) return results;
    std::vector<Facts> facts;
    facts.reserve(updated.size());
    for (const auto& [domain, r] : updated) {
      facts.push_back(facts_of(r));
      Impl::add_served(batch, domain, &facts.back());
    }
    s.commit(batch);
    s.event_seq += pending;
    for (size_t i = 0; i < updated.size(); ++i) {
      s.queue_served(updated[i].first, &facts[i]);
      changed.push_back(updated[i].first);
    }
    s.publish();
    domain_count_.store(s.count, std::memory_order_release);
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, changed);
  return results;
}

// ---- reads ----------------------------------------------------------------------------

std::vector<std::string> PolicyState::domains() const {
  return domains(std::string(), SIZE_MAX);
}

std::vector<std::string> PolicyState::domains(const std::string& after, size_t limit) const {
  // The served records' keys, in RocksDB's (bytewise, = std::string) order.
  std::vector<std::string> out;
  if (limit == 0) return out;
  if (limit != SIZE_MAX) out.reserve(std::min<size_t>(limit, 4096));
  else out.reserve(domain_count());
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  const rocksdb::Slice upper(kServedEnd.data(), kServedEnd.size());
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db.NewIterator(options));
  const std::string start = std::string(kServedPrefix) + after;
  for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
    std::string domain = it->key().ToString().substr(kServedPrefix.size());
    if (!after.empty() && domain == after) continue;
    out.push_back(std::move(domain));
  }
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  return out;
}

std::vector<std::string> PolicyState::pending_domains() const {
  std::lock_guard lock(impl_->mutex);
  return std::vector<std::string>(impl_->pending.begin(), impl_->pending.end());
}

bool PolicyState::has_domain(std::string_view domain_text) const {
  std::string domain;
  try {
    domain = normalize_domain(domain_text);
  } catch (const PolicyError&) {
    return false;
  }
  return impl_->contains(domain);
}

namespace {
// A RocksDB snapshot released at scope exit: several reads that agree with each other.
class SnapshotGuard {
 public:
  explicit SnapshotGuard(rocksdb::DB& db) : db_(db), snapshot_(db.GetSnapshot()) {}
  ~SnapshotGuard() { db_.ReleaseSnapshot(snapshot_); }
  SnapshotGuard(const SnapshotGuard&) = delete;
  SnapshotGuard& operator=(const SnapshotGuard&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB& db_;
  const rocksdb::Snapshot* snapshot_;
};
}  // namespace

std::optional<DomainStatus> PolicyState::status(std::string_view domain_text, int64_t unix_now) const {
  const std::string domain = normalize_domain(domain_text);
  if (!impl_->contains(domain)) return std::nullopt;
  std::optional<DomainRecord> record;
  {
    SnapshotGuard snapshot(impl_->db);
    record = impl_->load_record(domain, snapshot.get());
  }
  if (!record) return std::nullopt;
  const DomainRecord& r = *record;
  DomainStatus st;
  st.domain = domain;
  st.settings = r.settings;
  st.created_at = r.created_at;
  if (r.staged) st.staged = *r.staged;
  if (r.confirmed) st.confirmed = *r.confirmed;
  st.confirmation = r.confirmation;
  st.hold = r.hold;
  if (r.confirmed) {
    const auto rotation = this->rotation();
    const int64_t period = period_start(r.hold ? r.hold->since : unix_now, rotation);
    st.served_id = policy_id(period, rotation, r.confirmed->number, r.confirmed->digest);
    st.next_rotation = r.hold ? 0 : period_start(unix_now, rotation) + rotation.count();
  }
  return st;
}

std::vector<Event> PolicyState::events(std::string_view domain_text, size_t limit) const {
  const std::string domain = normalize_domain(domain_text);
  std::vector<Event> out;
  if (limit == 0) return out;
  const std::string prefix = event_prefix(domain);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db.NewIterator(rocksdb::ReadOptions()));
  // Keys end in fixed-width sequence numbers: the last key under the prefix is the newest.
  for (it->SeekForPrev(prefix + "\xff"); it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Prev()) {
    try {
      out.push_back(event_from_json(json::parse(it->value().ToString())));
    } catch (const std::exception& e) {
      throw StoreError("store record " + it->key().ToString() + " is corrupt: " + e.what());
    }
  }
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  return out;
}

std::optional<PolicyVersion> PolicyState::version(std::string_view domain_text, uint32_t number) const {
  const std::string domain = normalize_domain(domain_text);
  if (!impl_->contains(domain)) return std::nullopt;
  return impl_->load_version(domain, number);
}

std::shared_ptr<const ServedDomain> PolicyState::served(std::string_view domain_text) const {
  std::string domain;
  try {
    domain = normalize_domain(domain_text);
  } catch (const PolicyError&) {
    return nullptr;
  }
  if (!impl_->contains(domain)) return nullptr;   // most misses never touch the disk
  std::optional<DomainRecord> record;
  {
    SnapshotGuard snapshot(impl_->db);
    record = impl_->load_record(domain, snapshot.get());
  }
  if (!record) return nullptr;   // removed meanwhile
  const DomainRecord& r = *record;
  auto s = std::make_shared<ServedDomain>();
  s->domain = domain;
  s->wire_key = wire_key(domain);
  if (r.confirmed)
    s->confirmed = ServedVersion{r.confirmed->number, r.confirmed->digest,
                                 r.confirmation ? r.confirmation->at : r.confirmed->created_at};
  if (r.staged) {
    s->staged = ServedVersion{r.staged->number, r.staged->digest, r.staged->created_at};
    s->staged_policy = render_policy(r.staged->policy);
  }
  if (r.hold) s->held_since = r.hold->since;
  s->txt_changed_at = r.txt_changed_at;
  s->settings_changed_at = r.settings_changed_at;
  s->tlsrpt_txt = tlsrpt_record(r.settings.tlsrpt_rua);
  if (!s->tlsrpt_txt.empty()) {
    s->tlsrpt_rdata.push_back(static_cast<uint8_t>(s->tlsrpt_txt.size()));
    s->tlsrpt_rdata.insert(s->tlsrpt_rdata.end(), s->tlsrpt_txt.begin(), s->tlsrpt_txt.end());
  }
  return s;
}

ServedView PolicyState::served_wire(std::span<const uint8_t> labels) const noexcept {
  auto [shard, entry] = impl_->lookup(labels);
  if (!entry || !(entry_u8(entry, kOffFlags) & kEntryDomain)) return {};
  return ServedView(std::shared_ptr<const void>(std::move(shard)), entry);
}

bool PolicyState::is_ancestor_wire(std::span<const uint8_t> labels) const noexcept {
  auto [shard, entry] = impl_->lookup(labels);
  return entry && load_at<uint32_t>(entry, kOffAncestors) > 0;
}

void PolicyState::set_rotation(std::chrono::seconds rotation) {
  if (rotation.count() <= 0) throw PolicyError("rotation must be at least 1 second");
  impl_->rotation_seconds.store(rotation.count(), std::memory_order_release);
}

std::chrono::seconds PolicyState::rotation() const noexcept {
  return std::chrono::seconds(impl_->rotation_seconds.load(std::memory_order_acquire));
}

void PolicyState::require_name_room(size_t extra_octets, std::string why) {
  std::lock_guard lock(impl_->mutex);
  if (extra_octets > impl_->name_room) {
    impl_->name_room = extra_octets;
    impl_->name_room_why = std::move(why);
  }
}

PolicyState::Subscription PolicyState::subscribe(std::function<void(const std::string& domain)> callback) {
  auto subs = impl_->subscribers;
  uint64_t id;
  {
    std::lock_guard lock(subs->mutex);
    id = subs->next_id++;
    subs->callbacks.emplace(id, std::move(callback));
  }
  std::weak_ptr<Impl::Subscribers> weak = subs;
  // Dropping the token unsubscribes; it waits for a running notification (same mutex), so
  // a callback never runs after its owner dropped the token.
  return Subscription(reinterpret_cast<void*>(id), [weak, id](void*) {
    if (auto s = weak.lock()) {
      std::lock_guard lock(s->mutex);
      s->callbacks.erase(id);
    }
  });
}

}  // namespace stsd::mtasts
