#pragma once
// The packed form of one served-index entry (store/served_index.h) and the hash and wire
// helpers it is found by. Internal to the served index and ServedView.
//
//   0  u8  wire name length        1  u8  flags (kEntry*)     2  u8  TLS-RPT text length
//   3  u8  unused                  4  u32 ancestor count (domains strictly below this name)
//   8  u32 confirmed version      12  6 digest bytes          18  i64 txt_changed_at
//  26  i64 settings_changed_at    34  u32 rotation hash
//  38  [i64 held_since]  [i64 rotate_until]  then the wire name, then the TLS-RPT TXT rdata
//  (length octet + text); the entry is padded to a multiple of 8.
// Fields are read with memcpy (no alignment or aliasing assumptions).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "store/served_record.h"

namespace stsd::store::served_entry {

enum : uint8_t { kDomain = 1, kConfirmed = 2, kHeld = 4, kGated = 8 };
inline constexpr size_t kOffFlags = 1, kOffTlsLen = 2, kOffAncestors = 4, kOffVersion = 8, kOffDigest = 12,
                        kOffTxtChanged = 18, kOffSettingsChanged = 26, kOffHash = 34, kFixed = 38;

// A fast hash of a wire name (8 bytes per step; names are short).
inline uint64_t hash_name(std::span<const uint8_t> bytes) noexcept {
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

inline std::span<const uint8_t> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_text(std::span<const uint8_t> b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// "example.com" -> "\7example\3com" (lowercase wire labels, no root octet). Returns the
// length written into `out` (at most 254), or 0 when the text is not a domain name.
size_t wire_key_into(std::string_view text, uint8_t (&out)[256]) noexcept;

// Calls f(suffix) for every proper suffix of wire labels: "\7example\3com" -> "\3com".
template <class F>
void for_each_ancestor(std::string_view wire, F&& f) {
  size_t offset = wire.empty() ? 0 : static_cast<uint8_t>(wire[0]) + 1;
  while (offset < wire.size()) {
    f(wire.substr(offset));
    offset += static_cast<uint8_t>(wire[offset]) + 1;
  }
}

template <class T>
T load_at(const std::byte* entry, size_t offset) noexcept {
  T v;
  std::memcpy(&v, entry + offset, sizeof v);
  return v;
}
inline uint8_t u8_at(const std::byte* e, size_t offset) noexcept { return static_cast<uint8_t>(e[offset]); }
inline size_t round8(size_t n) noexcept { return (n + 7) & ~size_t{7}; }

inline bool is_domain(const std::byte* e) noexcept { return u8_at(e, kOffFlags) & kDomain; }
inline uint32_t ancestors(const std::byte* e) noexcept { return load_at<uint32_t>(e, kOffAncestors); }
inline void set_ancestors(std::byte* e, uint32_t n) noexcept { std::memcpy(e + kOffAncestors, &n, 4); }
inline size_t gated_offset(const std::byte* e) noexcept { return kFixed + ((u8_at(e, kOffFlags) & kHeld) ? 8 : 0); }
inline size_t name_offset(const std::byte* e) noexcept {
  const uint8_t flags = u8_at(e, kOffFlags);
  return kFixed + ((flags & kHeld) ? 8 : 0) + ((flags & kGated) ? 8 : 0);
}
inline std::span<const uint8_t> name(const std::byte* e) noexcept {
  return {reinterpret_cast<const uint8_t*>(e + name_offset(e)), u8_at(e, 0)};
}
inline size_t size(const std::byte* e) noexcept {
  const size_t tls = u8_at(e, kOffTlsLen);
  return round8(name_offset(e) + u8_at(e, 0) + (tls ? 1 + tls : 0));
}

// The bytes of an entry (a multiple of 8), and writing it into that many zeroed bytes:
// a domain (facts set) and/or an ancestor (count > 0).
size_t encoded_size(std::span<const uint8_t> name, const Facts* facts) noexcept;
void write_entry(std::byte* out, std::span<const uint8_t> name, const Facts* facts, uint32_t ancestors) noexcept;
// Appends an entry.
void append(std::vector<std::byte>& out, std::span<const uint8_t> name, const Facts* facts, uint32_t ancestors);

}  // namespace stsd::store::served_entry
