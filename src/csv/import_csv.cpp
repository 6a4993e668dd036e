#include "csv/import_csv.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace stsd::csv {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

void trim_trailing_blanks(std::string& text) {
  while (!text.empty() && is_blank(text.back())) text.pop_back();
}

std::string trimmed_lower(const std::string& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && is_blank(text[begin])) ++begin;
  while (end > begin && is_blank(text[end - 1])) --end;
  std::string out = text.substr(begin, end - begin);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  return out;
}

const std::string kHeaderShape(kImportHeaderShape);

}  // namespace

CsvReader::CsvReader(std::istream& in, size_t max_record_bytes)
    : in_(&in), max_record_bytes_(max_record_bytes), buffer_(64 * 1024), data_(buffer_.data()) {}

CsvReader::CsvReader(std::string_view text, size_t max_record_bytes)
    : max_record_bytes_(max_record_bytes), data_(text.data()), len_(text.size()) {}

// The next block of the stream; the raw text of the record being read keeps what the
// block before held.
bool CsvReader::refill() {
  if (in_ == nullptr) return false;
  if (keep_raw_) raw_.append(data_ + raw_from_, len_ - raw_from_);
  in_->read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  len_ = static_cast<size_t>(in_->gcount());
  pos_ = 0;
  raw_from_ = 0;
  return len_ != 0;
}

void CsvReader::keep_consumed(std::string& raw) {
  raw_.append(data_ + raw_from_, pos_ - raw_from_);
  raw_from_ = pos_;
  raw.swap(raw_);  // the record's old text becomes the next one's buffer
}

int CsvReader::peek() {
  if (pos_ == len_ && !refill()) return -1;
  return static_cast<unsigned char>(data_[pos_]);
}

int CsvReader::get() {
  int c = peek();
  if (c == -1) return -1;
  ++pos_;
  ++bytes_read_;
  if (c == '\n') ++line_;
  return c;
}

bool CsvReader::next(CsvRecord& record) {
  raw_.clear();
  raw_from_ = pos_;
  record.raw_line = line_;
  if (at_start_) {
    at_start_ = false;
    // A UTF-8 byte order mark, as spreadsheet programs write it.
    static constexpr std::array<int, 3> bom = {0xEF, 0xBB, 0xBF};
    if (peek() == bom[0]) {
      // Only three bytes are inspected; anything else starting with 0xEF is data.
      get();
      if (peek() != bom[1] || (get(), peek() != bom[2]))
        throw CsvError(line_, "the file starts with bytes that are neither text nor a UTF-8 byte order mark");
      get();
    }
  }
  enum class State { FieldStart, Unquoted, Quoted, AfterQuoted };
  for (;;) {
    record.fields.clear();
    record.line = line_;
    if (peek() == -1) return false;
    State state = State::FieldStart;
    std::string field;
    bool has_content = false;  // false for a blank line, which is skipped
    size_t record_bytes = 0;
    bool record_done = false;
    auto field_number = [&] { return std::to_string(record.fields.size() + 1); };
    auto end_field = [&] {
      if (state == State::Unquoted) trim_trailing_blanks(field);
      record.fields.push_back(std::move(field));
      field.clear();
      state = State::FieldStart;
    };
    while (!record_done) {
      int c = get();
      if (c != -1 && ++record_bytes > max_record_bytes_) {
        throw CsvError(record.line,
                       "record is longer than " + std::to_string(max_record_bytes_) + " bytes (is a quote left open?)");
      }
      switch (state) {
        case State::FieldStart:
          if (is_blank(static_cast<char>(c)) || c == '\r') break;
          if (c == '"') {
            state = State::Quoted;
            has_content = true;
          } else if (c == ',') {
            has_content = true;
            end_field();
          } else if (c == '\n' || c == -1) {
            if (has_content) end_field();
            record_done = true;
          } else {
            field.push_back(static_cast<char>(c));
            state = State::Unquoted;
            has_content = true;
          }
          break;
        case State::Unquoted:
          if (c == ',') {
            end_field();
          } else if (c == '\n' || c == -1) {
            end_field();
            record_done = true;
          } else if (c == '"') {
            throw CsvError(line_, "field " + field_number() +
                                      ": a double quote inside an unquoted field; enclose the whole field in "
                                      "double quotes and write the quote twice (RFC 4180)");
          } else if (c != '\r') {
            field.push_back(static_cast<char>(c));
          }
          break;
        case State::Quoted:
          if (c == -1) {
            throw CsvError(record.line,
                           "field " + field_number() + ": the quoted field starting on this line is never closed");
          }
          if (c == '"') {
            if (peek() == '"') {
              get();
              field.push_back('"');
            } else {
              state = State::AfterQuoted;
            }
          } else {
            field.push_back(static_cast<char>(c));
          }
          break;
        case State::AfterQuoted:
          if (is_blank(static_cast<char>(c)) || c == '\r') break;
          if (c == ',') {
            end_field();
          } else if (c == '\n' || c == -1) {
            end_field();
            record_done = true;
          } else {
            throw CsvError(line_, "field " + field_number() + ": unexpected '" + std::string(1, static_cast<char>(c)) +
                                      "' after the closing double quote (expected a comma or the end of the line)");
          }
          break;
      }
    }
    if (has_content) {
      if (keep_raw_) keep_consumed(record.raw);
      return true;
    }
  }
}

ImportHeader ImportHeader::parse(const CsvRecord& header) {
  ImportHeader result;
  result.field_count = header.fields.size();
  for (size_t i = 0; i < header.fields.size(); ++i) {
    std::string name = trimmed_lower(header.fields[i]);
    int* slot = nullptr;
    if (name == "domain")
      slot = &result.domain;
    else if (name == "mode")
      slot = &result.mode;
    else if (name == "mx")
      slot = &result.mx;
    else if (name == "max_age")
      slot = &result.max_age;
    else if (name == "tlsrpt_rua")
      slot = &result.tlsrpt_rua;
    if (slot == nullptr) {
      throw CsvError(header.line,
                     "unknown column '" + header.fields[i] + "'; the first line must be the header " + kHeaderShape);
    }
    if (*slot != absent) throw CsvError(header.line, "column '" + name + "' appears twice in the header");
    *slot = static_cast<int>(i);
  }
  const std::pair<const char*, int> required[] = {
      {"domain", result.domain}, {"mode", result.mode}, {"mx", result.mx}, {"max_age", result.max_age}};
  for (const auto& [name, index] : required) {
    if (index == absent) {
      throw CsvError(header.line, std::string("the header has no column '") + name + "'; expected " + kHeaderShape);
    }
  }
  return result;
}

std::string import_domain_key(std::string_view domain) {
  std::string key(domain);
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!key.empty() && key.back() == '.') key.pop_back();
  return key;
}

namespace {
bool separates_words(char c, bool commas) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || (commas && c == ','); }
}  // namespace

std::vector<std::string> split_words(const std::string& text, bool commas) {
  std::vector<std::string> words;
  std::string current;
  for (char c : text) {
    if (separates_words(c, commas)) {
      if (!current.empty()) words.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

std::optional<std::string_view> import_row_domain(const ImportHeader& header, const CsvRecord& record) {
  if (record.fields.size() != header.field_count) return std::nullopt;
  std::string_view field = record.fields[static_cast<size_t>(header.domain)];
  const auto separator = [](char c) { return separates_words(c, false); };
  while (!field.empty() && separator(field.front())) field.remove_prefix(1);
  while (!field.empty() && separator(field.back())) field.remove_suffix(1);
  if (field.empty() || std::any_of(field.begin(), field.end(), separator)) return std::nullopt;
  return field;
}

ImportRow parse_import_row(const ImportHeader& header, const CsvRecord& record) {
  if (record.fields.size() != header.field_count) {
    throw CsvError(record.line, std::to_string(record.fields.size()) + " fields, but the header has " +
                                    std::to_string(header.field_count) + " (quote a field that contains a comma)");
  }
  ImportRow row;
  row.line = record.line;
  auto single_word = [&](int column, const char* name) {
    std::vector<std::string> words = split_words(record.fields[static_cast<size_t>(column)]);
    if (words.empty()) throw CsvError(record.line, std::string("column ") + name + " is empty");
    if (words.size() > 1) {
      throw CsvError(record.line, std::string("column ") + name + " has several words ('" +
                                      record.fields[static_cast<size_t>(column)] + "'); expected one");
    }
    return words.front();
  };
  row.domain = single_word(header.domain, "domain");
  row.mode = single_word(header.mode, "mode");
  row.mx = split_words(record.fields[static_cast<size_t>(header.mx)]);
  std::string max_age = single_word(header.max_age, "max_age");
  auto [end, error] = std::from_chars(max_age.data(), max_age.data() + max_age.size(), row.max_age);
  if (error != std::errc() || end != max_age.data() + max_age.size()) {
    throw CsvError(record.line, "column max_age: '" + max_age + "' is not a whole number of seconds");
  }
  if (header.tlsrpt_rua != ImportHeader::absent) {
    // RFC 8460 §3: several rua URIs are separated by commas; spaces are accepted too.
    row.tlsrpt_rua = split_words(record.fields[static_cast<size_t>(header.tlsrpt_rua)], true);
  }
  return row;
}

}  // namespace stsd::csv
