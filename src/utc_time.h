#pragma once
// UTC times as text, in one place: log lines, the admin API and stsctl (ISO 8601), the
// confirmer's reports (for people), HTTP Date headers (RFC 9110 §5.6.7), and certificate
// dates from OpenSSL. Computed from the civil calendar (proleptic Gregorian), so no
// result depends on the TZ variable or the locale, and nothing takes libc's time locks.
#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace stsd {

using SystemTime = std::chrono::system_clock::time_point;

struct UtcFields {
  int64_t year = 1970;
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..31
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  unsigned weekday = 4;  // 0 = Sunday (1970-01-01 was a Thursday)
};

UtcFields utc_fields(int64_t unix_seconds) noexcept;
// Seconds since the epoch of a UTC calendar time; fields past their range carry over
// (second 60 is the next minute's 0, as timegm does).
int64_t unix_seconds_of(int64_t year, unsigned month, unsigned day, unsigned hour, unsigned minute,
                        unsigned second) noexcept;
// A broken-down UTC time (e.g. from OpenSSL's ASN1_TIME_to_tm) as a time point.
SystemTime utc_time_point(const std::tm& tm) noexcept;

// "2024-05-01T12:00:00Z" (RFC 3339, a profile of ISO 8601).
std::string iso8601(int64_t unix_seconds);
// Reads exactly what iso8601() writes; nullopt for anything else.
std::optional<int64_t> parse_iso8601(std::string_view text);
// An RFC 3339 §5.6 date-time as other software writes it: "2016-04-01T00:00:00Z", with
// 't' or ' ' for 'T', an optional fraction (dropped), and Z or +hh:mm / -hh:mm. nullopt
// for anything else, with the reason in `why` when given ("has no time offset ...").
std::optional<int64_t> parse_rfc3339(std::string_view text, std::string* why = nullptr);
// Appends "2024-05-01T12:00:00.123Z" to `out` (a log line's prefix: no allocation of
// its own).
void append_iso8601_millis(std::string& out, SystemTime time);

// "2024-05-01 12:00 UTC", or "2024-05-01 12:00:07 UTC" with seconds: for people.
std::string format_utc(SystemTime time, bool seconds = false);

// RFC 9110 §5.6.7 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(SystemTime time);
// Reads an IMF-fixdate, the one form senders generate (RFC 9110 §5.6.7); the two
// obsolete forms (RFC 850, asctime) give nullopt.
std::optional<SystemTime> parse_http_date(std::string_view text);

}  // namespace stsd
