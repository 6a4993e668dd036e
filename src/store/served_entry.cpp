// The served-index entry codec (store/served_entry.h) and what answering reads through a
// ServedView.
#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

#include "store/served.h"
#include "store/served_entry.h"

namespace stsd::store {

namespace served_entry {

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

size_t encoded_size(std::span<const uint8_t> name, const Facts* facts) noexcept {
  const bool held = facts && facts->held_since;
  const bool gated = facts && facts->rotate_until;
  const size_t tls = facts ? facts->tlsrpt_txt.size() : 0;
  return round8(kFixed + (held ? 8 : 0) + (gated ? 8 : 0) + name.size() + (tls ? 1 + tls : 0));
}

void write_entry(std::byte* e, std::span<const uint8_t> name, const Facts* facts, uint32_t ancestors) noexcept {
  const bool held = facts && facts->held_since;
  const bool gated = facts && facts->rotate_until;
  const size_t tls = facts ? facts->tlsrpt_txt.size() : 0;
  uint8_t flags = 0;
  if (facts) flags |= kDomain;
  if (facts && facts->confirmed) flags |= kConfirmed;
  if (held) flags |= kHeld;
  if (gated) flags |= kGated;
  e[0] = static_cast<std::byte>(name.size());
  e[kOffFlags] = static_cast<std::byte>(flags);
  e[kOffTlsLen] = static_cast<std::byte>(tls);
  set_ancestors(e, ancestors);
  if (facts) {
    std::memcpy(e + kOffVersion, &facts->version, 4);
    std::memcpy(e + kOffDigest, facts->digest.data(), 6);
    std::memcpy(e + kOffTxtChanged, &facts->txt_changed_at, 8);
    std::memcpy(e + kOffSettingsChanged, &facts->settings_changed_at, 8);
    std::memcpy(e + kOffHash, &facts->rotation_hash, 4);
    if (held) std::memcpy(e + kFixed, &*facts->held_since, 8);
    if (gated) std::memcpy(e + gated_offset(e), &*facts->rotate_until, 8);
  }
  size_t at = name_offset(e);
  std::memcpy(e + at, name.data(), name.size());
  at += name.size();
  if (tls) {
    e[at] = static_cast<std::byte>(tls);
    std::memcpy(e + at + 1, facts->tlsrpt_txt.data(), tls);
  }
}

void append(std::vector<std::byte>& out, std::span<const uint8_t> name, const Facts* facts, uint32_t ancestors) {
  const size_t start = out.size();
  out.resize(start + encoded_size(name, facts), std::byte{0});
  write_entry(out.data() + start, name, facts, ancestors);
}

}  // namespace served_entry

using namespace served_entry;

// ---- what answering reads --------------------------------------------------------------

std::span<const uint8_t> ServedView::wire_key() const noexcept { return name(entry_); }
bool ServedView::has_confirmed() const noexcept { return u8_at(entry_, kOffFlags) & kConfirmed; }
uint32_t ServedView::confirmed_version() const noexcept {
  return has_confirmed() ? load_at<uint32_t>(entry_, kOffVersion) : 0;
}
std::optional<int64_t> ServedView::held_since() const noexcept {
  if (!(u8_at(entry_, kOffFlags) & kHeld)) return std::nullopt;
  return load_at<int64_t>(entry_, kFixed);
}
int64_t ServedView::txt_changed_at() const noexcept { return load_at<int64_t>(entry_, kOffTxtChanged); }
int64_t ServedView::settings_changed_at() const noexcept { return load_at<int64_t>(entry_, kOffSettingsChanged); }
std::span<const uint8_t> ServedView::tlsrpt_rdata() const noexcept {
  const size_t tls = u8_at(entry_, kOffTlsLen);
  if (!tls) return {};
  return {reinterpret_cast<const uint8_t*>(entry_ + name_offset(entry_) + u8_at(entry_, 0)), 1 + tls};
}
std::optional<int64_t> ServedView::rotate_until() const noexcept {
  if (!(u8_at(entry_, kOffFlags) & kGated)) return std::nullopt;
  return load_at<int64_t>(entry_, gated_offset(entry_));
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
  for (size_t i = 0; i < 6; ++i) std::memcpy(hex + 2 * i, kHexPairs.data() + 2 * u8_at(entry_, kOffDigest + i), 2);
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
