// The id (RFC 8461 §3.1): periods, their UTC start, and the formatted id.
#include "store/policy_id.h"

#include <algorithm>

#include "store/ascii.h"
#include "store/sha256.h"
#include "utc_time.h"

namespace stsd::store {

int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

namespace {

int64_t rotation_seconds(std::chrono::seconds rotation) noexcept {
  return rotation.count() > 0 ? rotation.count() : 86400;
}

int64_t floor_div(int64_t a, int64_t b) noexcept {
  int64_t q = a / b;
  if (a % b < 0) --q;  // floor for times before the epoch
  return q;
}

}  // namespace

int64_t period_start(int64_t unix_now, std::chrono::seconds rotation) {
  const int64_t r = rotation_seconds(rotation);
  return floor_div(unix_now, r) * r;
}

uint32_t rotation_hash(std::string_view domain) {
  const auto digest = sha256(domain);
  return (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) | (uint32_t{digest[2]} << 8) | digest[3];
}

int64_t rotation_offset(uint32_t hash, std::chrono::seconds rotation) noexcept {
  return static_cast<int64_t>(hash % static_cast<uint64_t>(rotation_seconds(rotation)));
}

Period period_at(int64_t unix_time, uint32_t hash, const RotationSchedule& schedule) noexcept {
  const int64_t r = rotation_seconds(schedule.rotation);
  const int64_t offset = rotation_offset(hash, schedule.rotation);
  if (schedule.aligned_until > 0) {
    // A migrated store keeps the epoch-aligned periods (labelled by their start) until the
    // domain's first own boundary after the migration; the aligned period in which that
    // boundary falls ends there.
    const int64_t first_own = (floor_div(schedule.aligned_until - offset, r) + 1) * r + offset;
    if (unix_time < first_own) {
      const int64_t start = floor_div(unix_time, r) * r;
      return {start, std::min(start + r, first_own), start};
    }
  }
  const int64_t start = floor_div(unix_time - offset, r) * r + offset;
  return {start, start + r, start + r - 1};
}

namespace {

void put_digits(char* out, size_t& len, uint64_t value, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    out[len + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  len += static_cast<size_t>(width);
}

}  // namespace

namespace detail {

size_t format_period_prefix(char* out, int64_t label, std::chrono::seconds rotation) noexcept {
  const int64_t r = rotation_seconds(rotation);
  const UtcFields start = utc_fields(label);
  const int64_t year = std::max<int64_t>(start.year, 0);
  size_t len = 0;
  put_digits(out, len, static_cast<uint64_t>(year % 10000), 4);
  put_digits(out, len, start.month, 2);
  put_digits(out, len, start.day, 2);
  // The label is shown as precisely as the rotation needs: labels of consecutive periods
  // are a whole rotation apart, so two periods never share a prefix.
  if (r % 86400 != 0) {
    put_digits(out, len, start.hour, 2);
    if (r % 3600 != 0) {
      put_digits(out, len, start.minute, 2);
      if (r % 60 != 0) put_digits(out, len, start.second, 2);
    }
  }
  return len;
}

size_t append_version(char (&out)[kMaxIdLength], size_t len, uint32_t version) noexcept {
  out[len++] = 'v';
  char number[10];
  size_t digits = 0;
  uint32_t n = version;
  do {
    number[digits++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n && digits < sizeof number);
  while (digits) out[len++] = number[--digits];
  return len;
}

}  // namespace detail

size_t format_policy_id(char (&out)[kMaxIdLength], int64_t label, std::chrono::seconds rotation, uint32_t version,
                        std::string_view digest_hex) noexcept {
  size_t len = detail::format_period_prefix(out, label, rotation);
  len = detail::append_version(out, len, version);
  // The digest fragment: two different contents with the same version number (a restored
  // store) still get different ids within a period.
  out[len++] = 'd';
  size_t fragment = std::min<size_t>(12, kMaxIdLength - len);
  for (size_t i = 0; i < fragment && i < digest_hex.size(); ++i) {
    char c = digest_hex[i];
    out[len++] = (ascii::is_alpha(c) || ascii::is_digit(c)) ? ascii::lower(c) : '0';
  }
  return len;
}

std::string policy_id(int64_t label, std::chrono::seconds rotation, uint32_t version, std::string_view digest_hex) {
  char buffer[kMaxIdLength];
  return std::string(buffer, format_policy_id(buffer, label, rotation, version, digest_hex));
}

}  // namespace stsd::store
