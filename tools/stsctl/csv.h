#pragma once
// Streaming CSV reading for `stsctl import` (RFC 4180): records are read one at a time
// from a stream, so a file of a million rows needs memory for one record only.
#include <cstdint>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace stsctl {

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
};

// RFC 4180 §2: fields separated by commas, records by CRLF (a bare LF is accepted too),
// fields optionally enclosed in double quotes, a quote inside a quoted field doubled,
// quoted fields may contain commas and line breaks. Leniencies, because spreadsheets
// and hand-edited files do this: a UTF-8 byte order mark at the start is skipped, blank
// lines are skipped, and spaces around a field (outside its quotes) are trimmed.
class CsvReader {
 public:
  // A record longer than `max_record_bytes` is an error (it bounds memory per record).
  explicit CsvReader(std::istream& in, size_t max_record_bytes = 64 * 1024);

  // Reads the next non-blank record into `record`; false at the end of input.
  // Throws CsvError naming the line for malformed input.
  bool next(CsvRecord& record);

  uint64_t bytes_read() const { return bytes_read_; }

 private:
  int get();  // next byte or -1 at the end
  int peek();

  std::istream& in_;
  size_t max_record_bytes_;
  std::vector<char> buffer_;
  size_t buffer_pos_ = 0;
  size_t buffer_len_ = 0;
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

// Splits on ASCII whitespace (and, when `commas` is set, on commas too).
std::vector<std::string> split_words(const std::string& text, bool commas = false);

}  // namespace stsctl
