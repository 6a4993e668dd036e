#pragma once
// The import file format (RFC 4180 CSV with the columns domain,mode,mx,max_age[,tlsrpt_rua]),
// read by one parser on both sides of POST /v1/import: `stsctl import` streams the file
// with it, and the admin API reads the rows of a text/csv request body with it, so a row
// means the same and an error reads the same on either side. Records are read one at a
// time, so a file of a million rows needs memory for one record only.
#include <cstdint>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stsd::csv {

// One POST /v1/import with a CSV body carries at most this many rows in at most this many
// bytes: `stsctl import` cuts its batches within both, and the admin API refuses more, so
// its memory per request is bounded whatever the size of the file.
inline constexpr size_t kMaxRowsPerImportRequest = 50000;
inline constexpr size_t kMaxImportRequestBytes = 32 * 1024 * 1024;
// The other form of the request, rows as JSON objects (API clients; the only form an
// stsd from before the CSV body takes), carries at most this many rows.
inline constexpr size_t kMaxJsonRowsPerImportRequest = 5000;

// A CSV or import error that names the line of the file it is about.
class CsvError : public std::runtime_error {
 public:
  CsvError(uint64_t line, const std::string& message)
      : std::runtime_error("line " + std::to_string(line) + ": " + message), line_(line) {}
  uint64_t line() const { return line_; }

 private:
  uint64_t line_;
};

struct CsvRecord {
  uint64_t line = 0;  // the line the record starts on (1-based)
  std::vector<std::string> fields;
  // With CsvReader::keep_raw: the bytes read for this record, from the end of the one
  // before (blank lines included) through its line break, and the line they start on.
  // Concatenated, the raw texts of consecutive records read back as the same records on
  // the same lines.
  std::string raw;
  uint64_t raw_line = 0;
};

// RFC 4180 §2: fields separated by commas, records by CRLF (a bare LF is accepted too),
// fields optionally enclosed in double quotes, a quote inside a quoted field doubled,
// quoted fields may contain commas and line breaks. Leniencies, because spreadsheets
// and hand-edited files do this: a UTF-8 byte order mark at the start is skipped, blank
// lines are skipped, and spaces around a field (outside its quotes) are trimmed.
class CsvReader {
 public:
  static constexpr size_t kDefaultMaxRecordBytes = 64 * 1024;

  // A record longer than `max_record_bytes` is an error (it bounds memory per record).
  explicit CsvReader(std::istream& in, size_t max_record_bytes = kDefaultMaxRecordBytes);
  // Reads `text`, which must outlive the reader (a request body: nothing is copied).
  explicit CsvReader(std::string_view text, size_t max_record_bytes = kDefaultMaxRecordBytes);

  // Reads the next non-blank record into `record`; false at the end of input.
  // Throws CsvError naming the line for malformed input.
  bool next(CsvRecord& record);

  // Fill CsvRecord::raw from now on (what `stsctl import` sends on without re-encoding).
  void keep_raw() { keep_raw_ = true; }
  // The next line read is line `line` (a request body holds rows from inside a file).
  void set_line(uint64_t line) { line_ = line; }
  uint64_t line() const { return line_; }
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  int get();  // next byte or -1 at the end
  int peek();
  bool refill();
  void keep_consumed(std::string& raw);

  std::istream* in_ = nullptr;  // null: the whole input is `data_`
  size_t max_record_bytes_;
  std::vector<char> buffer_;
  const char* data_ = nullptr;
  size_t pos_ = 0;
  size_t len_ = 0;
  size_t raw_from_ = 0;  // where in data_ the current record's raw text starts
  std::string raw_;      // its text from blocks read before
  bool keep_raw_ = false;
  uint64_t bytes_read_ = 0;
  uint64_t line_ = 1;
  bool at_start_ = true;
};

// The columns of an import file, found by name in its header row.
struct ImportHeader {
  static constexpr int absent = -1;
  int domain = absent;
  int mode = absent;
  int mx = absent;
  int max_age = absent;
  int tlsrpt_rua = absent;
  size_t field_count = 0;

  // Column names are matched without regard to case or surrounding spaces. Required:
  // domain, mode, mx, max_age; optional: tlsrpt_rua. Unknown or repeated names are errors.
  static ImportHeader parse(const CsvRecord& header);
};

// The header as the first line of a file must read (what error messages cite).
inline constexpr std::string_view kImportHeaderShape = "domain,mode,mx,max_age[,tlsrpt_rua]";

// The key under which a request may hold a domain once: lower case, no trailing dot.
// (A request with the same domain twice is refused; across requests the later row wins.)
std::string import_domain_key(std::string_view domain);

// One row of an import file, checked for shape only (the server validates the policy
// itself, with the same parser as every other way of staging one).
struct ImportRow {
  uint64_t line = 0;
  std::string domain;
  std::string mode;
  std::vector<std::string> mx;  // space-separated in the file
  uint64_t max_age = 0;
  std::optional<std::vector<std::string>> tlsrpt_rua;  // absent column: leave as is; empty: none
};

// Throws CsvError naming the line and the column.
ImportRow parse_import_row(const ImportHeader& header, const CsvRecord& record);

// The row's domain as parse_import_row reads it, without reading the rest (a client that
// forwards rows); nullopt when it would refuse the row's field count or its domain column.
std::optional<std::string_view> import_row_domain(const ImportHeader& header, const CsvRecord& record);

// Splits on ASCII whitespace (and, when `commas` is set, on commas too).
std::vector<std::string> split_words(const std::string& text, bool commas = false);

}  // namespace stsd::csv
