#include "utc_time.h"

#include <array>
#include <cstdio>

namespace stsd {
namespace {

constexpr int64_t kSecondsPerDay = 86400;
constexpr std::array<std::string_view, 7> kWeekdays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int64_t floor_div(int64_t a, int64_t b) noexcept { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// Days since 1970-01-01 of a civil date, and back (H. Hinnant, "chrono-Compatible
// Low-Level Date Algorithms").
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

// 0 = Sunday; day 0 (1970-01-01) was a Thursday.
unsigned weekday_of(int64_t days) noexcept { return static_cast<unsigned>(days + 4 - floor_div(days + 4, 7) * 7); }

bool is_leap(int64_t y) noexcept { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

unsigned days_in_month(int64_t y, unsigned m) noexcept {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `width` digits at `at`; false if any is not a digit.
bool digits(std::string_view text, size_t at, size_t width, unsigned& value) noexcept {
  if (at + width > text.size()) return false;
  value = 0;
  for (size_t i = at; i < at + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + static_cast<unsigned>(text[i] - '0');
  }
  return true;
}

bool valid_time_of_day(unsigned hour, unsigned minute, unsigned second) noexcept {
  return hour < 24 && minute < 60 && second <= 60;  // 60: a leap second
}

int64_t seconds_of(SystemTime time) noexcept {
  return std::chrono::floor<std::chrono::seconds>(time.time_since_epoch()).count();
}

}  // namespace

UtcFields utc_fields(int64_t unix_seconds) noexcept {
  const int64_t days = floor_div(unix_seconds, kSecondsPerDay);
  const auto in_day = static_cast<unsigned>(unix_seconds - days * kSecondsPerDay);
  UtcFields f;
  civil_from_days(days, f.year, f.month, f.day);
  f.hour = in_day / 3600;
  f.minute = in_day / 60 % 60;
  f.second = in_day % 60;
  f.weekday = weekday_of(days);
  return f;
}

int64_t unix_seconds_of(int64_t year, unsigned month, unsigned day, unsigned hour, unsigned minute,
                        unsigned second) noexcept {
  return days_from_civil(year, month, day) * kSecondsPerDay + int64_t{hour} * 3600 + int64_t{minute} * 60 + second;
}

SystemTime utc_time_point(const std::tm& tm) noexcept {
  // std::tm counts months from 0 and years from 1900; carry months outside 0..11 into years.
  const int64_t months = int64_t{tm.tm_year} * 12 + tm.tm_mon;
  const int64_t year = 1900 + floor_div(months, 12);
  const auto month = static_cast<unsigned>(months - floor_div(months, 12) * 12) + 1;
  const int64_t seconds = days_from_civil(year, month, 1) * kSecondsPerDay +
                          (int64_t{tm.tm_mday} - 1) * kSecondsPerDay + int64_t{tm.tm_hour} * 3600 +
                          int64_t{tm.tm_min} * 60 + tm.tm_sec;
  return SystemTime(std::chrono::seconds(seconds));
}

std::string iso8601(int64_t unix_seconds) {
  const UtcFields f = utc_fields(unix_seconds);
  char text[40];
  const int n = std::snprintf(text, sizeof text, "%04lld-%02u-%02uT%02u:%02u:%02uZ", static_cast<long long>(f.year),
                              f.month, f.day, f.hour, f.minute, f.second);
  return std::string(text, static_cast<size_t>(n));
}

std::optional<int64_t> parse_iso8601(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SSZ
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
      text[19] != 'Z')
    return std::nullopt;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(text, 0, 4, year) || !digits(text, 5, 2, month) || !digits(text, 8, 2, day) ||
      !digits(text, 11, 2, hour) || !digits(text, 14, 2, minute) || !digits(text, 17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      !valid_time_of_day(hour, minute, second))
    return std::nullopt;
  return unix_seconds_of(year, month, day, hour, minute, second);
}

std::optional<int64_t> parse_rfc3339(std::string_view text, std::string* why) {
  const auto refuse = [why](const char* reason) -> std::optional<int64_t> {
    if (why) *why = reason;
    return std::nullopt;
  };
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const bool fields = text.size() >= 19 && text[4] == '-' && text[7] == '-' &&
                      (text[10] == 'T' || text[10] == 't' || text[10] == ' ') && text[13] == ':' && text[16] == ':' &&
                      digits(text, 0, 4, year) && digits(text, 5, 2, month) && digits(text, 8, 2, day) &&
                      digits(text, 11, 2, hour) && digits(text, 14, 2, minute) && digits(text, 17, 2, second);
  if (!fields || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      !valid_time_of_day(hour, minute, second))
    return refuse("is not an RFC 3339 date-time (2016-04-01T00:00:00Z)");
  size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    const size_t first = ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == first) return refuse("has a '.' without fraction digits");
  }
  const std::string_view zone = text.substr(at);
  int64_t offset = 0;
  unsigned offset_hours = 0, offset_minutes = 0;
  if (zone == "Z" || zone == "z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
             digits(zone, 1, 2, offset_hours) && digits(zone, 4, 2, offset_minutes) && offset_hours < 24 &&
             offset_minutes < 60) {
    offset = (zone[0] == '+' ? 1 : -1) * static_cast<int64_t>(offset_hours * 3600 + offset_minutes * 60);
  } else {
    return refuse("has no time offset (Z or +hh:mm)");
  }
  return unix_seconds_of(year, month, day, hour, minute, second) - offset;
}

void append_iso8601_millis(std::string& out, SystemTime time) {
  const auto millis = std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const UtcFields f = utc_fields(floor_div(millis, 1000));
  char text[48];
  const int n =
      std::snprintf(text, sizeof text, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", static_cast<long long>(f.year), f.month,
                    f.day, f.hour, f.minute, f.second, static_cast<unsigned>(millis - floor_div(millis, 1000) * 1000));
  out.append(text, static_cast<size_t>(n));
}

std::string format_utc(SystemTime time, bool seconds) {
  const UtcFields f = utc_fields(seconds_of(time));
  char text[48];
  const int n = seconds ? std::snprintf(text, sizeof text, "%04lld-%02u-%02u %02u:%02u:%02u UTC",
                                        static_cast<long long>(f.year), f.month, f.day, f.hour, f.minute, f.second)
                        : std::snprintf(text, sizeof text, "%04lld-%02u-%02u %02u:%02u UTC",
                                        static_cast<long long>(f.year), f.month, f.day, f.hour, f.minute);
  return std::string(text, static_cast<size_t>(n));
}

std::string http_date(SystemTime time) {
  const UtcFields f = utc_fields(seconds_of(time));
  char text[48];
  const int n =
      std::snprintf(text, sizeof text, "%s, %02u %s %04lld %02u:%02u:%02u GMT", kWeekdays[f.weekday].data(), f.day,
                    kMonths[f.month - 1].data(), static_cast<long long>(f.year), f.hour, f.minute, f.second);
  return std::string(text, static_cast<size_t>(n));
}

std::optional<SystemTime> parse_http_date(std::string_view text) {
  // Sun, 06 Nov 1994 08:49:37 GMT
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' ||
      text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT")
    return std::nullopt;
  unsigned weekday = 0;
  while (weekday < kWeekdays.size() && kWeekdays[weekday] != text.substr(0, 3)) ++weekday;
  unsigned month = 0;
  while (month < kMonths.size() && kMonths[month] != text.substr(8, 3)) ++month;
  unsigned day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (weekday == kWeekdays.size() || month == kMonths.size() || !digits(text, 5, 2, day) ||
      !digits(text, 12, 4, year) || !digits(text, 17, 2, hour) || !digits(text, 20, 2, minute) ||
      !digits(text, 23, 2, second))
    return std::nullopt;
  ++month;
  if (day < 1 || day > days_in_month(year, month) || !valid_time_of_day(hour, minute, second)) return std::nullopt;
  // The day name must agree with the date.
  if (weekday_of(days_from_civil(year, month, day)) != weekday) return std::nullopt;
  return SystemTime(std::chrono::seconds(unix_seconds_of(year, month, day, hour, minute, second)));
}

}  // namespace stsd
