#pragma once
// The id of `_mta-sts.<domain>` TXT (RFC 8461 §3.1, 1-32 [A-Za-z0-9]): a pure function of
// the rotation period containing "now" and the CONFIRMED version's number and content
// digest; never of a staged version. Format:
//   <period start UTC> "v" <version number> "d" <digest hex fragment>
//   period start: YYYYMMDD when the rotation is whole days, YYYYMMDDhh for whole hours,
//                 YYYYMMDDhhmm for whole minutes, else YYYYMMDDhhmmss;
//   the fragment: the first hex characters of the SHA-256 content digest, as many as fit
//                 in 32 characters (at most 12).
// e.g. rotation 1d, version 3 -> "20250101v3d9f86d081884c". Periods are counted from the
// Unix epoch, so daily rotation happens at 00:00 UTC.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stsd::store {

inline constexpr size_t kMaxIdLength = 32;

int64_t unix_seconds(std::chrono::system_clock::time_point t);
// Start (Unix seconds) of the rotation period containing `unix_now`.
int64_t period_start(int64_t unix_now, std::chrono::seconds rotation);
// Writes the id into `out` and returns its length (1..32). Pure; never allocates.
size_t format_policy_id(char (&out)[kMaxIdLength], int64_t period_start_unix, std::chrono::seconds rotation,
                        uint32_t version, std::string_view digest_hex) noexcept;
std::string policy_id(int64_t period_start_unix, std::chrono::seconds rotation, uint32_t version,
                      std::string_view digest_hex);

// The pieces of format_policy_id, so the DNS path can format the period prefix once per
// period (ServedView::id_at).
namespace detail {
// The period-start part ("YYYYMMDD", "YYYYMMDDhh"...): at most 14 characters.
size_t format_period_prefix(char* out, int64_t period_start_unix, std::chrono::seconds rotation) noexcept;
// Appends "v<version>" to an id of `len` characters; returns the new length.
size_t append_version(char (&out)[kMaxIdLength], size_t len, uint32_t version) noexcept;
}  // namespace detail

}  // namespace stsd::store
