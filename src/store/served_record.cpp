#include "store/served_record.h"

#include <cstring>

#include "store/errors.h"
#include "store/names.h"
#include "store/policy_id.h"

namespace stsd::store {

namespace {

// The record (little-endian): u8 format (1), u8 flags (1 confirmed, 2 pending, 4 held,
// 8 TLS-RPT, 16 rotate_until, 32 rotation hash), u32 confirmed version, 6 digest bytes,
// i64 txt_changed_at, i64 settings_changed_at, i64 created_at, [i64 held_since], [i64
// rotate_until], [u32 rotation hash], [u8 length + the TLS-RPT text]. Records written
// before schema 3 have no hash: it is computed from the name when they are loaded.
constexpr uint8_t kRecordFormat = 1;
enum : uint8_t { kRecConfirmed = 1, kRecPending = 2, kRecHeld = 4, kRecTlsrpt = 8, kRecGated = 16, kRecHash = 32 };

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

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Facts facts_of(std::string_view domain, const DomainRecord& r) {
  Facts f;
  f.rotation_hash = rotation_hash(domain);
  f.rotate_until = r.rotate_until;
  if (r.confirmed) {
    f.confirmed = true;
    f.version = r.confirmed->number;
    // The id shows at most 12 hex digits of the digest (policy_id.h): 6 bytes hold them.
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

std::string encode_served_record(const Facts& f) {
  std::string out;
  out.reserve(40 + f.tlsrpt_txt.size());
  out.push_back(static_cast<char>(kRecordFormat));
  uint8_t flags = 0;
  if (f.confirmed) flags |= kRecConfirmed;
  if (f.pending) flags |= kRecPending;
  if (f.held_since) flags |= kRecHeld;
  if (!f.tlsrpt_txt.empty()) flags |= kRecTlsrpt;
  if (f.rotate_until) flags |= kRecGated;
  flags |= kRecHash;
  out.push_back(static_cast<char>(flags));
  put_u32(out, f.version);
  out.append(reinterpret_cast<const char*>(f.digest.data()), f.digest.size());
  put_i64(out, f.txt_changed_at);
  put_i64(out, f.settings_changed_at);
  put_i64(out, f.created_at);
  if (f.held_since) put_i64(out, *f.held_since);
  if (f.rotate_until) put_i64(out, *f.rotate_until);
  put_u32(out, f.rotation_hash);
  if (!f.tlsrpt_txt.empty()) {
    out.push_back(static_cast<char>(f.tlsrpt_txt.size()));
    out += f.tlsrpt_txt;
  }
  return out;
}

bool decode_served_record(std::string_view domain, std::string_view value, Facts& f) {
  const auto* p = reinterpret_cast<const uint8_t*>(value.data());
  size_t n = value.size();
  constexpr size_t kFixed = 2 + 4 + 6 + 3 * 8;
  if (n < kFixed || p[0] != kRecordFormat) return false;
  const uint8_t flags = p[1];
  if (flags & ~(kRecConfirmed | kRecPending | kRecHeld | kRecTlsrpt | kRecGated | kRecHash)) return false;
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
  f.rotate_until.reset();
  if (flags & kRecGated) {
    if (n < at + 8) return false;
    f.rotate_until = static_cast<int64_t>(get_le(p + at, 8));
    at += 8;
  }
  if (flags & kRecHash) {
    if (n < at + 4) return false;
    f.rotation_hash = static_cast<uint32_t>(get_le(p + at, 4));
    at += 4;
  } else {
    f.rotation_hash = rotation_hash(domain);
  }
  f.tlsrpt_txt.clear();
  if (flags & kRecTlsrpt) {
    if (n < at + 1 || p[at] == 0 || n != at + 1 + p[at]) return false;
    f.tlsrpt_txt.assign(reinterpret_cast<const char*>(p + at + 1), p[at]);
    at += 1 + p[at];
  }
  return at == n && (f.confirmed || f.version == 0);
}

}  // namespace stsd::store
