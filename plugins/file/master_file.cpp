#include "master_file.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ldns/ldns.h>

#include "file_input.h"

namespace stsd::file {

void fail(const Location& at, const std::string& message) { throw ZoneError(at.text() + ": " + message); }

std::optional<uint32_t> parse_ttl(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    uint64_t value = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      value = value * 10 + static_cast<uint64_t>(text[i] - '0');
      if (value > kMaxTtl) return std::nullopt;
      ++i;
    }
    uint64_t unit = 1;
    if (i < text.size()) {
      switch (std::tolower(static_cast<unsigned char>(text[i]))) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        case 'w':
          unit = 604800;
          break;
        default:
          return std::nullopt;
      }
      ++i;
    } else if (total != 0) {
      return std::nullopt;  // "1h30" : a unit is missing
    }
    total += value * unit;
    if (total > kMaxTtl) return std::nullopt;
  }
  return static_cast<uint32_t>(total);
}

namespace {
using dns::Name;

constexpr uint32_t kNoTtlMarker = 0xffffffff;
constexpr const char* kTtlForm = "(seconds, or units such as 1h30m; at most 2147483647, RFC 2181 §8)";

using RdfPtr = std::unique_ptr<ldns_rdf, decltype(&ldns_rdf_deep_free)>;
using RrPtr = std::unique_ptr<ldns_rr, decltype(&ldns_rr_free)>;
using BufferPtr = std::unique_ptr<ldns_buffer, decltype(&ldns_buffer_free)>;
using FilePtr = std::unique_ptr<FILE, decltype(&std::fclose)>;

RdfPtr make_rdf(const Name& name) {
  return RdfPtr(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, name.size(), name.data()), &ldns_rdf_deep_free);
}

// Text of the file at `at` for a message: escaped and cut, or withheld when other users
// may not read the file.
std::string quoted(const Location& at, std::string_view text) { return quote_input(text, at.file->others_may_read); }

// The source line for a message, without its comment and surrounding blanks.
std::string line_excerpt(const Location& at, std::string_view line) {
  if (auto comment = line.find(';'); comment != std::string_view::npos) line = line.substr(0, comment);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
  return quoted(at, line);
}

// Directive arguments: whitespace-separated, up to a ';' comment; "quoted" file names.
std::vector<std::string> split_directive(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size() || line[i] == ';') break;
    if (line[i] == '"') {
      size_t end = line.find('"', i + 1);
      if (end == std::string_view::npos) end = line.size();
      out.emplace_back(line.substr(i + 1, end - i - 1));
      i = end + 1;
      continue;
    }
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])) && line[i] != ';') ++i;
    out.emplace_back(line.substr(start, i - start));
  }
  return out;
}

// ldns accepts a record whose "(" or '"' is still open at the end of the file; such a
// file is cut short or mistyped, so it is refused here. Returns the problem, if any.
const char* unbalanced(std::string_view record) {
  int depth = 0;
  bool quoted = false;
  bool comment = false;
  for (size_t i = 0; i < record.size(); ++i) {
    const char c = record[i];
    if (comment) {
      comment = c != '\n';
    } else if (c == '\\') {
      ++i;  // an escaped character is never syntax
    } else if (quoted) {
      quoted = c != '"';
    } else if (c == '"') {
      quoted = true;
    } else if (c == ';') {
      comment = true;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return "')' without '('";
    }
  }
  if (quoted) return "quoted string not closed";
  if (depth > 0) return "'(' not closed";
  return nullptr;
}

// IN, CH, HS, CS, or CLASSnnn (RFC 3597 §5).
bool is_class_token(std::string_view token) {
  auto upper_equals = [](std::string_view text, std::string_view word) {
    return text.size() == word.size() && std::equal(text.begin(), text.end(), word.begin(), [](char a, char b) {
             return std::toupper(static_cast<unsigned char>(a)) == b;
           });
  };
  if (upper_equals(token, "IN") || upper_equals(token, "CH") || upper_equals(token, "HS") || upper_equals(token, "CS"))
    return true;
  return token.size() > 5 && upper_equals(token.substr(0, 5), "CLASS") &&
         std::all_of(token.begin() + 5, token.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

struct Token {
  size_t begin = 0, end = 0;
  std::string_view in(std::string_view text) const { return text.substr(begin, end - begin); }
};

// The start of the record at `pos`: the owner (unless the line starts blank: RFC 1035
// §5.1, the last owner) and the two fields that may follow it, TTL and class in either
// order. Tokens are found across the lines a '(' holds together, comments skipped;
// a quoted string ends the search (it is rdata).
struct RecordHead {
  bool blank_owner = false;
  Token fields[2];  // the tokens after the owner
  size_t count = 0;
};

RecordHead record_head(std::string_view text, size_t pos) {
  auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  RecordHead head;
  head.blank_owner = pos < text.size() && is_blank(text[pos]);
  bool owner_pending = !head.blank_owner;
  int depth = 0;
  size_t i = pos;
  while (i < text.size() && head.count < 2) {
    const char c = text[i];
    if (is_blank(c)) {
      ++i;
    } else if (c == ';') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '\n') {
      if (depth == 0) break;
      ++i;
    } else if (c == '(' || c == ')') {
      depth += c == '(' ? 1 : -1;
      ++i;
    } else if (c == '"') {
      break;
    } else {
      const size_t begin = i;
      while (i < text.size() && !is_blank(text[i]) && text[i] != '\n' && text[i] != ';' && text[i] != '(' &&
             text[i] != ')')
        i += text[i] == '\\' ? 2 : 1;
      i = std::min(i, text.size());
      if (owner_pending)
        owner_pending = false;
      else
        head.fields[head.count++] = {begin, i};
    }
  }
  return head;
}

// RFC 1035 §5.1 allows "<owner> [<class>] [<TTL>] <type>" as well as TTL first; ldns
// 1.8 reads only the TTL-first order. Swapping the two tokens in place keeps every
// octet offset and line of the file, so line numbers stay right.
void put_ttl_before_class(std::string& text, const RecordHead& head) {
  if (head.count < 2) return;
  const Token& klass = head.fields[0];
  const Token& ttl = head.fields[1];
  const std::string klass_text(klass.in(text));
  const std::string ttl_text(ttl.in(text));
  if (!is_class_token(klass_text) || !parse_ttl(ttl_text)) return;
  const std::string swapped = ttl_text + text.substr(klass.end, ttl.begin - klass.end) + klass_text;
  text.replace(klass.begin, swapped.size(), swapped);
}

// ldns reads a TTL into 32 bits modulo 2^32 (4294967296 becomes 0, 9999999w becomes
// 685442432), so the TTL field is checked here, from the text: a field after the owner
// that starts with a digit is the TTL (a type or class never does).
std::optional<std::string_view> bad_ttl_field(std::string_view text, const RecordHead& head) {
  for (size_t i = 0; i < head.count; ++i) {
    const std::string_view field = head.fields[i].in(text);
    if (is_class_token(field)) continue;
    if (!std::isdigit(static_cast<unsigned char>(field.front()))) break;  // the type
    if (!parse_ttl(field)) return field;
  }
  return std::nullopt;
}

bool is_blank_or_comment(std::string_view line) {
  for (char c : line) {
    if (c == ';') return true;
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Reads master files, one record at a time through ldns, following $INCLUDE.
class MasterFileReader {
 public:
  MasterFileReader(const std::filesystem::path& path, const ZoneFileRules& rules, MasterFile& out)
      : out_(out), bytes_left_(rules.max_bytes), max_bytes_(rules.max_bytes) {
    // $INCLUDE stays in the zone file's folder and the folders the config adds.
    include_folders_.push_back(path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path());
    include_folders_.insert(include_folders_.end(), rules.include_folders.begin(), rules.include_folders.end());
  }

  void read_top(const std::filesystem::path& path, const Name& origin) {
    RdfPtr no_owner(nullptr, &ldns_rdf_deep_free);
    read(path, path.string(), origin, kDefaultTtl, no_owner.get(), nullptr);
  }

 private:
  // The state of one file being read.
  struct Cursor {
    std::filesystem::path path;
    const SourceFile* source = nullptr;
    std::string text;
    FilePtr fp{nullptr, &std::fclose};
    Name origin;
    RdfPtr origin_rdf{nullptr, &ldns_rdf_deep_free};
    RdfPtr previous_owner{nullptr, &ldns_rdf_deep_free};
    BufferPtr wire{nullptr, &ldns_buffer_free};
    uint32_t default_ttl = kDefaultTtl;
    size_t pos = 0;
    int line = 1;
  };

  // `inherited_owner` is the including file's last owner (RFC 1035 §5.1: a blank owner
  // means the last stated one); `included_from` is null for the top-level file.
  void read(const std::filesystem::path& path, const std::string& display, const Name& origin, uint32_t default_ttl,
            const ldns_rdf* inherited_owner, const Location* included_from) {
    if (stack_.size() >= kMaxIncludeDepth)
      fail(*included_from, "$INCLUDE nested deeper than " + std::to_string(kMaxIncludeDepth) + " files");
    InputFile input = open_input(path, display, included_from);
    for (const auto& open : stack_) {
      if (open == input.resolved) fail(*included_from, "$INCLUDE loop: " + display + " is already being read");
    }
    Cursor file;
    file.path = path;
    file.source = &out_.files.emplace_back(SourceFile{display, input.others_may_read});
    file.text = std::move(input.content);
    out_.end = Location{file.source, 1};
    if (file.text.empty()) return;

    stack_.push_back(input.resolved);
    file.fp.reset(fmemopen(file.text.data(), file.text.size(), "r"));
    if (!file.fp) throw ZoneError(display + ": cannot read zone file: " + std::strerror(errno));
    file.origin = origin;
    file.origin_rdf = make_rdf(origin);
    file.previous_owner.reset(inherited_owner ? ldns_rdf_clone(inherited_owner) : nullptr);
    file.wire.reset(ldns_buffer_new(512));
    file.default_ttl = default_ttl;

    while (file.pos < file.text.size()) {
      size_t line_end = file.text.find('\n', file.pos);
      if (line_end == std::string::npos) line_end = file.text.size();
      const std::string_view current(file.text.data() + file.pos, line_end - file.pos);
      const Location at{file.source, file.line};
      out_.end = at;
      if (is_blank_or_comment(current) || current.front() == '$') {
        if (!is_blank_or_comment(current)) read_directive(file, current, at);
        file.pos = line_end + 1;
        ++file.line;
      } else {
        read_record(file, current, at);
      }
    }
    stack_.pop_back();
  }

  // The file's content under the rules of src/file_input.h, within what is left of the
  // zone's byte budget; an included file must lie in an allowed folder.
  InputFile open_input(const std::filesystem::path& path, const std::string& display, const Location* included_from) {
    InputFileRules rules;
    rules.max_bytes = bytes_left_;
    if (included_from) rules.confine_to = include_folders_;
    try {
      InputFile input = read_input_file(path, rules);
      bytes_left_ -= input.content.size();
      return input;
    } catch (const InputFileError& error) {
      if (error.refusal() == InputRefusal::NulByte)
        throw ZoneError(display + ":" + std::to_string(error.line()) + ": " + error.detail());
      std::string reason = error.detail();
      if (error.refusal() == InputRefusal::TooLarge)
        reason = "takes the zone's files together above max_bytes (" + std::to_string(max_bytes_) + " bytes)";
      if (error.refusal() == InputRefusal::Outside)
        reason += ": $INCLUDE reads only from the zone file's folder and the zone's include_folders";
      if (included_from) fail(*included_from, "$INCLUDE " + display + " " + reason);
      throw ZoneError(display + ": zone file " + reason);
    }
  }

  void read_directive(Cursor& file, std::string_view line, const Location& at) {
    const auto args = split_directive(line);
    const std::string& directive = args.front();
    if (directive == "$ORIGIN") {
      if (args.size() != 2) fail(at, "$ORIGIN takes one domain name");
      auto name = Name::from_text(args[1], &file.origin);
      if (!name) fail(at, "$ORIGIN: invalid domain name '" + quoted(at, args[1]) + "'");
      file.origin = *name;
      file.origin_rdf = make_rdf(file.origin);
    } else if (directive == "$TTL") {
      if (args.size() != 2) fail(at, "$TTL takes one value");
      auto ttl = parse_ttl(args[1]);
      if (!ttl) fail(at, "$TTL: invalid TTL '" + quoted(at, args[1]) + "' " + kTtlForm);
      file.default_ttl = *ttl;
    } else if (directive == "$INCLUDE") {
      include(file, args, at);
    } else {
      fail(at, "unsupported directive " + quoted(at, directive) + " (supported: $ORIGIN, $TTL, $INCLUDE)");
    }
  }

  void include(Cursor& file, const std::vector<std::string>& args, const Location& at) {
    if (args.size() < 2 || args.size() > 3) fail(at, "$INCLUDE takes a file name and an optional origin");
    Name include_origin = file.origin;
    if (args.size() == 3) {
      auto name = Name::from_text(args[2], &file.origin);
      if (!name) fail(at, "$INCLUDE: invalid origin '" + quoted(at, args[2]) + "'");
      include_origin = *name;
    }
    // Relative names are taken from the including file's folder, so a zone folder can
    // be moved as a whole.
    std::filesystem::path target = args[1];
    if (target.is_relative()) target = file.path.parent_path() / target;
    // RFC 1035 §5.1: origin and current owner revert after the included file.
    read(target, target.lexically_normal().string(), include_origin, file.default_ttl, file.previous_owner.get(), &at);
    out_.end = at;
  }

  // A record, possibly spread over several lines with parentheses: ldns reads it from
  // here to its end; the line count follows the octets it consumed.
  void read_record(Cursor& file, std::string_view current, const Location& at) {
    const RecordHead head = record_head(file.text, file.pos);
    if (auto ttl = bad_ttl_field(file.text, head)) fail(at, "invalid TTL '" + quoted(at, *ttl) + "' " + kTtlForm);
    put_ttl_before_class(file.text, head);
    if (std::fseek(file.fp.get(), static_cast<long>(file.pos), SEEK_SET) != 0) fail(at, "cannot seek in zone file");
    ldns_rr* raw_rr = nullptr;
    // ldns takes a default of 0 as "none" (and then uses 3600); a marker no valid TTL
    // can have (RFC 2181 §8) shows which records carried no TTL of their own.
    uint32_t ttl = kNoTtlMarker;
    ldns_rdf* raw_origin = file.origin_rdf.release();
    ldns_rdf* raw_previous = file.previous_owner.release();
    const ldns_status status = ldns_rr_new_frm_fp_l(&raw_rr, file.fp.get(), &ttl, &raw_origin, &raw_previous, nullptr);
    file.origin_rdf.reset(raw_origin);
    file.previous_owner.reset(raw_previous);
    RrPtr rr(raw_rr, &ldns_rr_free);
    const long consumed_to = std::ftell(file.fp.get());
    const size_t next = consumed_to < 0 ? file.text.size() : static_cast<size_t>(consumed_to);
    const std::string_view consumed =
        next > file.pos ? std::string_view(file.text).substr(file.pos, next - file.pos) : "";
    if (status == LDNS_STATUS_SYNTAX_EMPTY && next > file.pos) {
      file.line += static_cast<int>(std::count(consumed.begin(), consumed.end(), '\n'));
      file.pos = next;
      return;
    }
    if (status != LDNS_STATUS_OK || !rr)
      fail(at,
           std::string("cannot parse record (") + ldns_get_errorstr_by_id(status) + "): " + line_excerpt(at, current));
    if (next <= file.pos) fail(at, "cannot parse record: " + line_excerpt(at, current));
    if (const char* problem = unbalanced(consumed))
      fail(at, std::string("cannot parse record (") + problem + "): " + line_excerpt(at, current));
    if (ldns_rr_ttl(rr.get()) == kNoTtlMarker) {
      ldns_rr_set_ttl(rr.get(), file.default_ttl);
    } else if (ldns_rr_ttl(rr.get()) > kMaxTtl) {
      fail(at, "TTL " + std::to_string(ldns_rr_ttl(rr.get())) + " is above 2147483647 (RFC 2181 §8)");
    }
    add_record(*rr, at, *file.wire);
    file.previous_owner.reset(ldns_rdf_clone(ldns_rr_owner(rr.get())));
    file.line += static_cast<int>(std::count(consumed.begin(), consumed.end(), '\n'));
    file.pos = next;
  }

  void add_record(const ldns_rr& rr, const Location& at, ldns_buffer& wire) {
    SourceRecord record;
    const ldns_rdf* owner = ldns_rr_owner(&rr);
    auto owner_name = owner ? Name::from_wire({ldns_rdf_data(owner), ldns_rdf_size(owner)}) : std::nullopt;
    if (!owner_name) fail(at, "invalid owner name");
    record.owner = owner_name->lowered();
    record.type = static_cast<uint16_t>(ldns_rr_get_type(&rr));
    record.rclass = static_cast<uint16_t>(ldns_rr_get_class(&rr));
    record.ttl = ldns_rr_ttl(&rr);
    ldns_buffer_clear(&wire);
    if (ldns_rr_rdata2buffer_wire(&wire, &rr) != LDNS_STATUS_OK) fail(at, "cannot encode rdata");
    const uint8_t* begin = ldns_buffer_begin(&wire);
    record.rdata.assign(begin, begin + ldns_buffer_position(&wire));
    if (record.rdata.size() > 65535) fail(at, "rdata longer than 65535 octets");
    record.at = at;
    out_.records.push_back(std::move(record));
  }

  MasterFile& out_;
  std::vector<std::filesystem::path> include_folders_;
  uint64_t bytes_left_;  // of the zone's max_bytes, for the files not yet read
  const uint64_t max_bytes_;
  std::vector<std::filesystem::path> stack_;  // files being read, resolved (loop guard)
};

}  // namespace

void read_master_file(const std::filesystem::path& path, const Name& origin, const ZoneFileRules& rules,
                      MasterFile& out) {
  MasterFileReader reader(path, rules, out);
  reader.read_top(path, origin);
}

}  // namespace stsd::file
