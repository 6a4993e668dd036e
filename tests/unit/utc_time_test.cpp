// The UTC formatters (src/utc_time.h): each format against known instants, and the
// parsers against their own output and against malformed text.
#include "utc_time.h"

#include <gtest/gtest.h>

#include <ctime>

using namespace stsd;
using std::chrono::seconds;

namespace {

SystemTime at(int64_t unix_seconds) { return SystemTime(seconds(unix_seconds)); }

struct Instant {
  int64_t unix_seconds;
  const char* iso8601;
  const char* http_date;
  const char* for_people;
};

std::ostream& operator<<(std::ostream& out, const Instant& i) { return out << i.iso8601; }

class KnownInstants : public ::testing::TestWithParam<Instant> {};

TEST_P(KnownInstants, FormatAndReadBack) {
  const auto& i = GetParam();
  EXPECT_EQ(iso8601(i.unix_seconds), i.iso8601);
  EXPECT_EQ(http_date(at(i.unix_seconds)), i.http_date);
  EXPECT_EQ(format_utc(at(i.unix_seconds), true), i.for_people);
  EXPECT_EQ(parse_iso8601(i.iso8601), i.unix_seconds);
  EXPECT_EQ(parse_http_date(i.http_date), at(i.unix_seconds));
}

INSTANTIATE_TEST_SUITE_P(
    Table, KnownInstants,
    ::testing::Values(
        Instant{0, "1970-01-01T00:00:00Z", "Thu, 01 Jan 1970 00:00:00 GMT", "1970-01-01 00:00:00 UTC"},
        // RFC 9110 §5.6.7's example.
        Instant{784111777, "1994-11-06T08:49:37Z", "Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06 08:49:37 UTC"},
        Instant{951782400, "2000-02-29T00:00:00Z", "Tue, 29 Feb 2000 00:00:00 GMT", "2000-02-29 00:00:00 UTC"},
        Instant{1735689599, "2024-12-31T23:59:59Z", "Tue, 31 Dec 2024 23:59:59 GMT", "2024-12-31 23:59:59 UTC"},
        Instant{4102444800, "2100-01-01T00:00:00Z", "Fri, 01 Jan 2100 00:00:00 GMT", "2100-01-01 00:00:00 UTC"},
        Instant{-1, "1969-12-31T23:59:59Z", "Wed, 31 Dec 1969 23:59:59 GMT", "1969-12-31 23:59:59 UTC"}));

TEST(UtcTime, MinutesForPeopleByDefault) {
  EXPECT_EQ(format_utc(at(784111777)), "1994-11-06 08:49 UTC");
  // Sub-second parts are cut, not rounded.
  EXPECT_EQ(format_utc(at(59) + std::chrono::milliseconds(999), true), "1970-01-01 00:00:59 UTC");
}

TEST(UtcTime, LogPrefixHasMilliseconds) {
  std::string line = "> ";
  append_iso8601_millis(line, at(784111777) + std::chrono::milliseconds(42));
  EXPECT_EQ(line, "> 1994-11-06T08:49:37.042Z");
  line.clear();
  append_iso8601_millis(line, at(-1) + std::chrono::milliseconds(500));
  EXPECT_EQ(line, "1969-12-31T23:59:59.500Z");
}

TEST(UtcTime, ParsersRefuseWhatTheyDoNotWrite) {
  for (const char* bad : {"", "1994-11-06T08:49:37", "1994-11-06 08:49:37Z", "1994-11-06T08:49:37+00:00",
                          "1994-13-06T08:49:37Z", "1994-02-29T08:49:37Z", "1994-11-06T24:00:00Z",
                          "1994-11-06T08:60:00Z", "1994-1-06T08:49:37Z", "199a-11-06T08:49:37Z"})
    EXPECT_FALSE(parse_iso8601(bad)) << bad;
  EXPECT_EQ(parse_iso8601("2000-02-29T12:00:00Z"), 951825600);
  for (const char* bad :
       {"", "Sun, 06 Nov 1994 08:49:37 UTC", "Mon, 06 Nov 1994 08:49:37 GMT",  // wrong day name
        "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",          // obsolete forms
        "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 06 Nox 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT"})
    EXPECT_FALSE(parse_http_date(bad)) << bad;
}

TEST(UtcTime, BrokenDownTimeIsUtcWhateverTheZone) {
  std::tm tm{};
  tm.tm_year = 94;
  tm.tm_mon = 10;
  tm.tm_mday = 6;
  tm.tm_hour = 8;
  tm.tm_min = 49;
  tm.tm_sec = 37;
  EXPECT_EQ(utc_time_point(tm), at(784111777));
  tm.tm_mon = 22;  // past December: carried into the next year, as timegm does
  tm.tm_year = 93;
  EXPECT_EQ(utc_time_point(tm), at(784111777));
  EXPECT_EQ(unix_seconds_of(1994, 11, 6, 8, 49, 60), 784111800) << "second 60 is the next minute";
}

TEST(UtcTime, FieldsMatchTheCalendarAcrossFourCenturies) {
  // Every 13 h 1 min 1 s over 400 years (one Gregorian cycle), so every hour, minute and
  // second turns up, against libc's gmtime_r.
  for (int64_t t = -6311347200; t < 6311347200; t += 43200 + 3661) {
    const auto time = static_cast<std::time_t>(t);
    std::tm expected{};
    ASSERT_NE(gmtime_r(&time, &expected), nullptr);
    const UtcFields f = utc_fields(t);
    ASSERT_EQ(f.year, expected.tm_year + 1900) << t;
    ASSERT_EQ(f.month, static_cast<unsigned>(expected.tm_mon + 1)) << t;
    ASSERT_EQ(f.day, static_cast<unsigned>(expected.tm_mday)) << t;
    ASSERT_EQ(f.hour, static_cast<unsigned>(expected.tm_hour)) << t;
    ASSERT_EQ(f.minute, static_cast<unsigned>(expected.tm_min)) << t;
    ASSERT_EQ(f.second, static_cast<unsigned>(expected.tm_sec)) << t;
    ASSERT_EQ(f.weekday, static_cast<unsigned>(expected.tm_wday)) << t;
    ASSERT_EQ(unix_seconds_of(f.year, f.month, f.day, f.hour, f.minute, f.second), t);
  }
}

// RFC 3339 as reporters write it (TLS-RPT date-range): offsets, fractions, 't'; the
// calendar's own month lengths.
TEST(UtcTime, Rfc3339WithOffsetsAndFractions) {
  EXPECT_EQ(parse_rfc3339("2016-04-01T00:00:00Z"), 1459468800);
  EXPECT_EQ(parse_rfc3339("2016-04-01t02:00:00.123456+02:00"), 1459468800);
  EXPECT_EQ(parse_rfc3339("2016-03-31 19:30:00-04:30"), 1459468800);
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), 1709164800);
  std::string why;
  EXPECT_FALSE(parse_rfc3339("2026-02-29T00:00:00Z", &why));  // not a leap year
  EXPECT_EQ(why, "is not an RFC 3339 date-time (2016-04-01T00:00:00Z)");
  EXPECT_FALSE(parse_rfc3339("2026-11-30T00:00:00", &why));
  EXPECT_EQ(why, "has no time offset (Z or +hh:mm)");
  EXPECT_FALSE(parse_rfc3339("2026-11-30T00:00:00.Z", &why));
  EXPECT_EQ(why, "has a '.' without fraction digits");
  for (const char* bad : {"", "2026-11-30", "2026-11-30T24:00:00Z", "2026-11-30T00:00:00+24:00", "2026-11-30T00:00:00+0200"})
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

}  // namespace
