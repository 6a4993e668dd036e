#pragma once
// The id of `_mta-sts.<domain>` TXT (RFC 8461 §3.1, 1-32 [A-Za-z0-9]): a pure function of
// the domain's rotation period and the CONFIRMED version's number and content digest;
// never of a staged version. Format:
//   <period label UTC> "v" <version number> "d" <digest hex fragment>
//   period label: YYYYMMDD when the rotation is whole days, YYYYMMDDhh for whole hours,
//                 YYYYMMDDhhmm for whole minutes, else YYYYMMDDhhmmss;
//   the fragment: the first hex characters of the SHA-256 content digest, as many as fit
//                 in 32 characters (at most 12).
// e.g. rotation 1d, version 3 -> "20250101v3d9f86d081884c".
//
// Each domain rotates at its own offset inside the rotation, so that probes, zone changes
// and the senders' fetches spread over the day instead of all landing at 00:00 UTC:
//   rotation_hash = the first 4 bytes of SHA-256(lowercase domain, no trailing dot), as a
//                   big-endian number;  offset = rotation_hash % rotation (in seconds);
//   the domain's periods are [k * rotation + offset, (k + 1) * rotation + offset), counted
//   from the Unix epoch, and each is labelled by the UTC time of its LAST second (so with
//   offset 0 and a rotation of a day, an hour or a minute, the label shows the period's
//   start, as before offsets existed).
// A store from before offsets (schema 2) records when it was migrated (`aligned_until`):
// until each domain's first own boundary after that instant, its periods stay aligned to
// the epoch and are labelled by their start, so no id moves at the upgrade.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stsd::store {

inline constexpr size_t kMaxIdLength = 32;

int64_t unix_seconds(std::chrono::system_clock::time_point t);
// Start (Unix seconds) of the epoch-aligned period of `rotation` containing `unix_now`.
int64_t period_start(int64_t unix_now, std::chrono::seconds rotation);

// How a store's domains rotate: the period (set by the DNS plugin) and, for a store
// migrated from epoch-aligned rotation, the migration time (0: offsets from the start).
struct RotationSchedule {
  std::chrono::seconds rotation{86400};
  int64_t aligned_until = 0;
};

// The first 4 bytes of SHA-256(`domain`), big-endian. `domain`: lowercase, no trailing dot.
uint32_t rotation_hash(std::string_view domain);
// The domain's offset inside the rotation, in seconds: [0, rotation).
int64_t rotation_offset(uint32_t hash, std::chrono::seconds rotation) noexcept;

// One rotation period of a domain: [start, end), named by the UTC time `label`.
struct Period {
  int64_t start = 0;
  int64_t end = 0;
  int64_t label = 0;
};
// The period of the domain with `hash` that contains `unix_time`.
Period period_at(int64_t unix_time, uint32_t hash, const RotationSchedule& schedule) noexcept;

// Writes the id into `out` and returns its length (1..32). Pure; never allocates.
// `label`: Period::label.
size_t format_policy_id(char (&out)[kMaxIdLength], int64_t label, std::chrono::seconds rotation, uint32_t version,
                        std::string_view digest_hex) noexcept;
std::string policy_id(int64_t label, std::chrono::seconds rotation, uint32_t version, std::string_view digest_hex);

// The pieces of format_policy_id, so the DNS path can format the period prefix once per
// period (ServedView::id_at).
namespace detail {
// The period label part ("YYYYMMDD", "YYYYMMDDhh"...): at most 14 characters.
size_t format_period_prefix(char* out, int64_t label, std::chrono::seconds rotation) noexcept;
// Appends "v<version>" to an id of `len` characters; returns the new length.
size_t append_version(char (&out)[kMaxIdLength], size_t len, uint32_t version) noexcept;
}  // namespace detail

}  // namespace stsd::store
