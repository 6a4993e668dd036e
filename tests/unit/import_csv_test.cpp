// The import file format shared by stsctl and the admin API: RFC 4180 records, import
// rows, errors by line, raw record texts.
#include <gtest/gtest.h>

#include <sstream>

#include "csv/import_csv.h"

namespace stsd::csv {
namespace {

struct ExpectedRecord {
  uint64_t line;
  std::vector<std::string> fields;
};

std::vector<ExpectedRecord> read_all(const std::string& text) {
  std::istringstream in(text);
  CsvReader reader(in);
  std::vector<ExpectedRecord> out;
  CsvRecord record;
  while (reader.next(record)) out.push_back({record.line, record.fields});
  return out;
}

struct ReadCase {
  const char* name;
  std::string input;
  std::vector<ExpectedRecord> expected;
};
void PrintTo(const ReadCase& c, std::ostream* os) { *os << c.name; }

class CsvReads : public testing::TestWithParam<ReadCase> {};

// The same records from a request body (a string read in place) as from a stream.
std::vector<ExpectedRecord> read_all_in_place(std::string_view text) {
  CsvReader reader(text);
  std::vector<ExpectedRecord> out;
  CsvRecord record;
  while (reader.next(record)) out.push_back({record.line, record.fields});
  return out;
}

TEST_P(CsvReads, RecordsAndTheirLines) {
  const auto& c = GetParam();
  for (const auto& records : {read_all(c.input), read_all_in_place(c.input)}) {
    ASSERT_EQ(records.size(), c.expected.size());
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].line, c.expected[i].line) << "record " << i;
      EXPECT_EQ(records[i].fields, c.expected[i].fields) << "record " << i;
    }
  }
}

// What `stsctl import` relies on: the raw texts of a run of records, after the header's,
// read back (numbered from the run's first line) as the same records on the same lines.
TEST_P(CsvReads, RawTextsReadBackAsTheSameRecordsOnTheSameLines) {
  const auto& c = GetParam();
  if (c.expected.size() < 2) return;
  std::istringstream in(c.input);
  CsvReader reader(in);
  reader.keep_raw();
  CsvRecord record;
  ASSERT_TRUE(reader.next(record));
  const std::string header = record.raw;
  ASSERT_TRUE(reader.next(record));
  const uint64_t first_line = record.raw_line;
  std::string rest = record.raw;
  std::vector<ExpectedRecord> expected{{record.line, record.fields}};
  while (reader.next(record)) {
    rest += record.raw;
    expected.push_back({record.line, record.fields});
  }
  const std::string body = header + rest;
  CsvReader again{std::string_view(body)};
  ASSERT_TRUE(again.next(record));
  again.set_line(first_line);
  for (const auto& e : expected) {
    ASSERT_TRUE(again.next(record));
    EXPECT_EQ(record.line, e.line);
    EXPECT_EQ(record.fields, e.fields);
  }
  EXPECT_FALSE(again.next(record));
}

TEST(CsvReader, RawTextsSpanStreamBlocks) {
  std::string input = "domain,mode,mx,max_age\n";
  while (input.size() < 64 * 1024 - 10) input += "a.example,enforce,mx.example,86400\n";
  input += "\n\n\"b.example\",enforce,\"mx1.example\nmx2.example\",86400\r\nc.example,none,,1\n";
  std::istringstream in(input);
  CsvReader reader(in);
  reader.keep_raw();
  CsvRecord record;
  std::string joined;
  while (reader.next(record)) joined += record.raw;
  EXPECT_EQ(joined, input);
  EXPECT_EQ(record.raw, "c.example,none,,1\n");
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4180, CsvReads,
    testing::Values(ReadCase{"plain_lf", "a,b,c\n1,2,3\n", {{1, {"a", "b", "c"}}, {2, {"1", "2", "3"}}}},
                    ReadCase{"crlf", "a,b\r\n1,2\r\n", {{1, {"a", "b"}}, {2, {"1", "2"}}}},
                    ReadCase{"no_final_newline", "a,b\n1,2", {{1, {"a", "b"}}, {2, {"1", "2"}}}},
                    ReadCase{"quoted_comma", "x,\"a, b\",y\n", {{1, {"x", "a, b", "y"}}}},
                    ReadCase{"doubled_quote", "\"say \"\"hi\"\"\",z\n", {{1, {"say \"hi\"", "z"}}}},
                    ReadCase{"quoted_line_break_keeps_line_count",
                             "a,\"two\nlines\"\nnext,row\n",
                             {{1, {"a", "two\nlines"}}, {3, {"next", "row"}}}},
                    ReadCase{"quoted_crlf_kept", "\"a\r\nb\"\n", {{1, {"a\r\nb"}}}},
                    ReadCase{"empty_fields", ",,\n", {{1, {"", "", ""}}}},
                    ReadCase{"empty_quoted_field_is_a_record", "\"\"\n", {{1, {""}}}},
                    ReadCase{"blank_lines_skipped", "a\n\n   \n\r\nb\n", {{1, {"a"}}, {5, {"b"}}}},
                    ReadCase{"spaces_around_fields_trimmed", "  a ,  \"b c\"  , d\t\n", {{1, {"a", "b c", "d"}}}},
                    ReadCase{"utf8_bom_skipped",
                             "\xEF\xBB\xBF"
                             "domain,mode\n",
                             {{1, {"domain", "mode"}}}},
                    ReadCase{"mx_with_spaces_unquoted",
                             "e.com,enforce,mx1.e.com mx2.e.com,86400\n",
                             {{1, {"e.com", "enforce", "mx1.e.com mx2.e.com", "86400"}}}},
                    ReadCase{"empty_input", "", {}}),
    [](const testing::TestParamInfo<ReadCase>& info) { return info.param.name; });

struct ErrorCase {
  const char* name;
  std::string input;
  uint64_t line;
  std::string message_part;
};
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class CsvErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(CsvErrors, NameTheLine) {
  const auto& c = GetParam();
  try {
    read_all(c.input);
    FAIL() << "no error for " << c.name;
  } catch (const CsvError& error) {
    EXPECT_EQ(error.line(), c.line) << error.what();
    EXPECT_NE(std::string(error.what()).find(c.message_part), std::string::npos) << error.what();
    EXPECT_EQ(std::string(error.what()).rfind("line " + std::to_string(c.line) + ": ", 0), 0u) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, CsvErrors,
    testing::Values(ErrorCase{"quote_inside_unquoted_field", "a,b\nx,ab\"c\n", 2,
                              "double quote inside an unquoted field"},
                    ErrorCase{"unclosed_quote_names_its_first_line", "a\nb\n\"open,\nstill\nopen\n", 3, "never closed"},
                    ErrorCase{"text_after_closing_quote", "a\n\"x\"y,z\n", 2, "after the closing double quote"},
                    ErrorCase{"bad_byte_order_mark", "\xEF\x41\x42", 1, "byte order mark"}),
    [](const testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(CsvReader, RecordLongerThanTheLimitIsAnErrorNotUnboundedMemory) {
  std::string input = "a\n\"" + std::string(2000, 'x');  // a quote left open
  std::istringstream in(input);
  CsvReader reader(in, 1024);
  CsvRecord record;
  ASSERT_TRUE(reader.next(record));
  try {
    reader.next(record);
    FAIL();
  } catch (const CsvError& error) {
    EXPECT_EQ(error.line(), 2u);
    EXPECT_NE(std::string(error.what()).find("longer than 1024 bytes"), std::string::npos);
  }
}

TEST(CsvReader, StreamsLargeInputsAndCountsBytes) {
  std::string input = "domain,mode,mx,max_age\n";
  for (int i = 0; i < 20000; ++i) input += "d" + std::to_string(i) + ".example,enforce,\"mx.example\",86400\r\n";
  std::istringstream in(input);
  CsvReader reader(in);
  CsvRecord record;
  uint64_t count = 0;
  uint64_t last_line = 0;
  while (reader.next(record)) {
    ++count;
    last_line = record.line;
  }
  EXPECT_EQ(count, 20001u);
  EXPECT_EQ(last_line, 20001u);
  EXPECT_EQ(reader.bytes_read(), input.size());
}

CsvRecord record_of(uint64_t line, std::vector<std::string> fields) { return CsvRecord{line, std::move(fields)}; }

TEST(ImportHeader, FindsColumnsByNameInAnyOrderAndCase) {
  auto header = ImportHeader::parse(record_of(1, {"MX", " domain ", "max_age", "Mode", "tlsrpt_rua"}));
  EXPECT_EQ(header.mx, 0);
  EXPECT_EQ(header.domain, 1);
  EXPECT_EQ(header.max_age, 2);
  EXPECT_EQ(header.mode, 3);
  EXPECT_EQ(header.tlsrpt_rua, 4);
  EXPECT_EQ(header.field_count, 5u);
}

TEST(ImportHeader, TlsrptColumnIsOptional) {
  auto header = ImportHeader::parse(record_of(1, {"domain", "mode", "mx", "max_age"}));
  EXPECT_EQ(header.tlsrpt_rua, ImportHeader::absent);
}

struct HeaderErrorCase {
  const char* name;
  std::vector<std::string> fields;
  std::string message_part;
};
void PrintTo(const HeaderErrorCase& c, std::ostream* os) { *os << c.name; }

class ImportHeaderErrors : public testing::TestWithParam<HeaderErrorCase> {};

TEST_P(ImportHeaderErrors, AreErrorsOnLineOne) {
  const auto& c = GetParam();
  try {
    ImportHeader::parse(record_of(1, c.fields));
    FAIL();
  } catch (const CsvError& error) {
    EXPECT_EQ(error.line(), 1u);
    EXPECT_NE(std::string(error.what()).find(c.message_part), std::string::npos) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Header, ImportHeaderErrors,
    testing::Values(
        HeaderErrorCase{"unknown_column", {"domain", "mode", "mx", "max_age", "color"}, "unknown column 'color'"},
        HeaderErrorCase{"data_instead_of_header",
                        {"example.com", "enforce", "mx.example.com", "86400"},
                        "first line must be the header"},
        HeaderErrorCase{"repeated_column", {"domain", "mode", "mx", "mx", "max_age"}, "'mx' appears twice"},
        HeaderErrorCase{"missing_max_age", {"domain", "mode", "mx"}, "no column 'max_age'"}),
    [](const testing::TestParamInfo<HeaderErrorCase>& info) { return info.param.name; });

const ImportHeader kHeader = ImportHeader::parse(record_of(1, {"domain", "mode", "mx", "max_age", "tlsrpt_rua"}));

TEST(ImportRow, SplitsMxOnSpacesAndRuaOnCommasOrSpaces) {
  auto row = parse_import_row(kHeader,
                              record_of(7, {" example.com ", "enforce", "mx1.example.com  *.mail.example.com", "604800",
                                            "mailto:a@example.com,https://r.example.net/x mailto:b@example.com"}));
  EXPECT_EQ(row.line, 7u);
  EXPECT_EQ(row.domain, "example.com");
  EXPECT_EQ(row.mode, "enforce");
  EXPECT_EQ(row.mx, (std::vector<std::string>{"mx1.example.com", "*.mail.example.com"}));
  EXPECT_EQ(row.max_age, 604800u);
  ASSERT_TRUE(row.tlsrpt_rua);
  EXPECT_EQ(*row.tlsrpt_rua,
            (std::vector<std::string>{"mailto:a@example.com", "https://r.example.net/x", "mailto:b@example.com"}));
}

TEST(ImportRow, EmptyRuaMeansNoReportRecordAndAbsentColumnMeansUnchanged) {
  auto with_empty = parse_import_row(kHeader, record_of(2, {"example.com", "none", "", "86400", ""}));
  ASSERT_TRUE(with_empty.tlsrpt_rua);
  EXPECT_TRUE(with_empty.tlsrpt_rua->empty());
  EXPECT_TRUE(with_empty.mx.empty());
  auto header = ImportHeader::parse(record_of(1, {"domain", "mode", "mx", "max_age"}));
  auto without = parse_import_row(header, record_of(2, {"example.com", "none", "", "86400"}));
  EXPECT_FALSE(without.tlsrpt_rua);
}

struct RowErrorCase {
  const char* name;
  std::vector<std::string> fields;
  std::string message_part;
};
void PrintTo(const RowErrorCase& c, std::ostream* os) { *os << c.name; }

class ImportRowErrors : public testing::TestWithParam<RowErrorCase> {};

TEST_P(ImportRowErrors, NameTheLineAndColumn) {
  const auto& c = GetParam();
  try {
    parse_import_row(kHeader, record_of(42, c.fields));
    FAIL();
  } catch (const CsvError& error) {
    EXPECT_EQ(error.line(), 42u);
    EXPECT_NE(std::string(error.what()).find(c.message_part), std::string::npos) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ImportRowErrors,
    testing::Values(
        RowErrorCase{
            "too_few_fields", {"example.com", "enforce", "mx.example.com", "86400"}, "4 fields, but the header has 5"},
        RowErrorCase{"too_many_fields", {"example.com", "enforce", "mx1", "mx2", "86400", ""}, "6 fields"},
        RowErrorCase{"empty_domain", {"  ", "enforce", "mx.example.com", "86400", ""}, "column domain is empty"},
        RowErrorCase{"two_domains",
                     {"a.com b.com", "enforce", "mx.example.com", "86400", ""},
                     "column domain has several words"},
        RowErrorCase{"empty_mode", {"example.com", "", "mx.example.com", "86400", ""}, "column mode is empty"},
        RowErrorCase{"max_age_not_a_number",
                     {"example.com", "enforce", "mx.example.com", "1w", ""},
                     "'1w' is not a whole number"},
        RowErrorCase{
            "max_age_negative", {"example.com", "enforce", "mx.example.com", "-5", ""}, "'-5' is not a whole number"},
        RowErrorCase{"max_age_overflow",
                     {"example.com", "enforce", "mx.example.com", "99999999999999999999999", ""},
                     "is not a whole number"},
        RowErrorCase{"max_age_empty", {"example.com", "enforce", "mx.example.com", "", ""}, "column max_age is empty"}),
    [](const testing::TestParamInfo<RowErrorCase>& info) { return info.param.name; });

// import_row_domain reads the domain as parse_import_row does, and nothing where it would
// refuse the field count or the domain column (what stsctl forwards without reading).
TEST(ImportRow, DomainAloneReadsAsTheWholeRow) {
  const auto header = ImportHeader::parse(record_of(1, {"domain", "mode", "mx", "max_age"}));
  for (const std::vector<std::string>& fields : std::vector<std::vector<std::string>>{
           {" Example.COM. ", "enforce", "mx.example.com", "86400"}, {"\ta.example\r", "", "", "soon"}}) {
    const auto record = record_of(7, fields);
    ASSERT_TRUE(import_row_domain(header, record)) << fields[0];
    EXPECT_EQ(*import_row_domain(header, record), std::string_view(fields[0]).substr(1, fields[0].size() - 2));
  }
  EXPECT_EQ(*import_row_domain(header, record_of(7, {" Example.COM. ", "enforce", "mx.example.com", "86400"})),
            parse_import_row(header, record_of(7, {" Example.COM. ", "enforce", "mx.example.com", "86400"})).domain);
  EXPECT_FALSE(import_row_domain(header, record_of(7, {"a.example", "enforce", "mx.example.com"})));
  EXPECT_FALSE(import_row_domain(header, record_of(7, {"  ", "enforce", "mx.example.com", "1"})));
  EXPECT_FALSE(import_row_domain(header, record_of(7, {"a.example b.example", "enforce", "mx.example.com", "1"})));
}

}  // namespace
}  // namespace stsd::csv
