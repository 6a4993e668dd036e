#include "zone_loader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <ldns/ldns.h>

#include "dns/types.h"
#include "logging.h"

namespace stsd::file {
namespace {
using dns::Name;
namespace rrtype = dns::rrtype;

constexpr uint32_t kMaxTtl = 0x7fffffff;
constexpr uint32_t kNoTtlMarker = 0xffffffff;

using RdfPtr = std::unique_ptr<ldns_rdf, decltype(&ldns_rdf_deep_free)>;
using RrPtr = std::unique_ptr<ldns_rr, decltype(&ldns_rr_free)>;
using BufferPtr = std::unique_ptr<ldns_buffer, decltype(&ldns_buffer_free)>;
using FilePtr = std::unique_ptr<FILE, decltype(&std::fclose)>;

RdfPtr make_rdf(const Name& name) {
  return RdfPtr(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, name.size(), name.data()), &ldns_rdf_deep_free);
}

// Where a record or directive came from.
struct Location {
  const std::string* file = nullptr;
  int line = 0;
  std::string text() const { return *file + ":" + std::to_string(line); }
};

[[noreturn]] void fail(const Location& at, const std::string& message) { throw ZoneError(at.text() + ": " + message); }

struct SourceRecord {
  Name owner;  // lowercased
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;
  Location at;
};

std::string type_name(uint16_t type) { return dns::type_to_string(type); }

// A shortened copy of the source line for error messages.
std::string excerpt(std::string_view line) {
  if (auto comment = line.find(';'); comment != std::string_view::npos) line = line.substr(0, comment);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
  if (line.size() > 80) return std::string(line.substr(0, 77)) + "...";
  return std::string(line);
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

// "3600", "1h", "1h30m", "2w" (BIND's units). RFC 2181 §8: at most 2^31 - 1.
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

bool is_class_mnemonic(std::string_view token) {
  auto equals = [&](std::string_view word) {
    return token.size() == word.size() && std::equal(token.begin(), token.end(), word.begin(), [](char a, char b) {
             return std::toupper(static_cast<unsigned char>(a)) == b;
           });
  };
  return equals("IN") || equals("CH") || equals("HS") || equals("CS");
}

// RFC 1035 §5.1 allows "<owner> [<class>] [<TTL>] <type>" as well as TTL first; ldns
// 1.8 reads only the TTL-first order. Swapping the two tokens in place keeps every
// octet offset and line of the file, so line numbers stay right.
void put_ttl_before_class(std::string& text, size_t line_start, size_t line_end) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  size_t i = line_start;
  struct Token {
    size_t begin = 0, end = 0;
  };
  Token tokens[3];
  size_t count = 0;
  const bool blank_owner = i < line_end && is_space(text[i]);
  while (count < (blank_owner ? 2u : 3u)) {
    while (i < line_end && is_space(text[i])) ++i;
    if (i >= line_end || text[i] == ';' || text[i] == '(' || text[i] == '"') return;
    const size_t begin = i;
    while (i < line_end && !is_space(text[i]) && text[i] != ';' && text[i] != '(') ++i;
    tokens[count++] = {begin, i};
  }
  const Token& klass = tokens[blank_owner ? 0 : 1];
  const Token& ttl = tokens[blank_owner ? 1 : 2];
  const std::string_view klass_text(text.data() + klass.begin, klass.end - klass.begin);
  const std::string_view ttl_text(text.data() + ttl.begin, ttl.end - ttl.begin);
  if (!is_class_mnemonic(klass_text) || !parse_ttl(ttl_text)) return;
  const std::string swapped =
      std::string(ttl_text) + text.substr(klass.end, ttl.begin - klass.end) + std::string(klass_text);
  text.replace(klass.begin, swapped.size(), swapped);
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
  explicit MasterFileReader(std::vector<SourceRecord>& out) : out_(out) {}

  void read_top(const std::filesystem::path& path, const Name& origin) {
    const std::string* name = &names_.emplace_back(path.string());
    RdfPtr no_owner(nullptr, &ldns_rdf_deep_free);
    read(path, name, origin, kDefaultTtl, no_owner.get(), nullptr);
  }

  const Location& last_location() const { return last_; }

 private:
  // `inherited_owner` is the including file's last owner (RFC 1035 §5.1: a blank owner
  // means the last stated one); `included_from` is null for the top-level file.
  void read(const std::filesystem::path& path, const std::string* display, const Name& origin_name,
            uint32_t default_ttl, const ldns_rdf* inherited_owner, const Location* included_from) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(path, ec);
    if (ec) canonical = path;
    for (const auto& open : stack_) {
      if (open == canonical) fail(*included_from, "$INCLUDE loop: " + *display + " is already being read");
    }
    if (stack_.size() >= kMaxIncludeDepth)
      fail(*included_from, "$INCLUDE nested deeper than " + std::to_string(kMaxIncludeDepth) + " files");

    std::string text;
    {
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        const std::string reason = std::strerror(errno);
        if (included_from) fail(*included_from, "cannot open included file " + *display + ": " + reason);
        throw ZoneError(*display + ": cannot open zone file: " + reason);
      }
      std::ostringstream buffer;
      buffer << in.rdbuf();
      text = std::move(buffer).str();
    }
    last_ = Location{display, 1};
    if (text.empty()) return;

    stack_.push_back(canonical);
    FilePtr fp(fmemopen(text.data(), text.size(), "r"), &std::fclose);
    if (!fp) throw ZoneError(*display + ": cannot read zone file: " + std::strerror(errno));

    Name origin = origin_name;
    RdfPtr origin_rdf = make_rdf(origin);
    RdfPtr previous_owner(inherited_owner ? ldns_rdf_clone(inherited_owner) : nullptr, &ldns_rdf_deep_free);
    BufferPtr wire(ldns_buffer_new(512), &ldns_buffer_free);

    size_t pos = 0;
    int line = 1;
    while (pos < text.size()) {
      size_t line_end = text.find('\n', pos);
      if (line_end == std::string::npos) line_end = text.size();
      const std::string_view current(text.data() + pos, line_end - pos);
      const Location at{display, line};
      last_ = at;

      if (is_blank_or_comment(current)) {
        pos = line_end + 1;
        ++line;
        continue;
      }

      if (current.front() == '$') {
        const auto args = split_directive(current);
        const std::string& directive = args.front();
        if (directive == "$ORIGIN") {
          if (args.size() != 2) fail(at, "$ORIGIN takes one domain name");
          auto name = Name::from_text(args[1], &origin);
          if (!name) fail(at, "$ORIGIN: invalid domain name '" + args[1] + "'");
          origin = *name;
          origin_rdf = make_rdf(origin);
        } else if (directive == "$TTL") {
          if (args.size() != 2) fail(at, "$TTL takes one value");
          auto ttl = parse_ttl(args[1]);
          if (!ttl)
            fail(at, "$TTL: invalid TTL '" + args[1] + "' (seconds, or units such as 1h30m; at most 2147483647)");
          default_ttl = *ttl;
        } else if (directive == "$INCLUDE") {
          if (args.size() < 2 || args.size() > 3) fail(at, "$INCLUDE takes a file name and an optional origin");
          Name include_origin = origin;
          if (args.size() == 3) {
            auto name = Name::from_text(args[2], &origin);
            if (!name) fail(at, "$INCLUDE: invalid origin '" + args[2] + "'");
            include_origin = *name;
          }
          // Relative names are taken from the including file's folder, so a zone
          // folder can be moved as a whole.
          std::filesystem::path target = args[1];
          if (target.is_relative()) target = path.parent_path() / target;
          const std::string* target_display = &names_.emplace_back(target.lexically_normal().string());
          // RFC 1035 §5.1: origin and current owner revert after the included file.
          read(target, target_display, include_origin, default_ttl, previous_owner.get(), &at);
          last_ = at;
        } else {
          fail(at, "unsupported directive " + directive + " (supported: $ORIGIN, $TTL, $INCLUDE)");
        }
        pos = line_end + 1;
        ++line;
        continue;
      }

      // A record, possibly spread over several lines with parentheses: ldns reads it
      // from here to its end; the line count follows the octets it consumed.
      put_ttl_before_class(text, pos, line_end);
      if (std::fseek(fp.get(), static_cast<long>(pos), SEEK_SET) != 0) fail(at, "cannot seek in zone file");
      ldns_rr* raw_rr = nullptr;
      // ldns takes a default of 0 as "none" (and then uses 3600); a marker no valid
      // TTL can have (RFC 2181 §8) shows which records carried no TTL of their own.
      uint32_t ttl = kNoTtlMarker;
      ldns_rdf* raw_origin = origin_rdf.release();
      ldns_rdf* raw_previous = previous_owner.release();
      const ldns_status status = ldns_rr_new_frm_fp_l(&raw_rr, fp.get(), &ttl, &raw_origin, &raw_previous, nullptr);
      origin_rdf.reset(raw_origin);
      previous_owner.reset(raw_previous);
      RrPtr rr(raw_rr, &ldns_rr_free);
      const long consumed_to = std::ftell(fp.get());
      const size_t next = consumed_to < 0 ? text.size() : static_cast<size_t>(consumed_to);
      if (status == LDNS_STATUS_SYNTAX_EMPTY && next > pos) {
        line += static_cast<int>(
            std::count(text.begin() + static_cast<long>(pos), text.begin() + static_cast<long>(next), '\n'));
        pos = next;
        continue;
      }
      if (status != LDNS_STATUS_OK || !rr)
        fail(at, std::string("cannot parse record (") + ldns_get_errorstr_by_id(status) + "): " + excerpt(current));
      if (next <= pos) fail(at, "cannot parse record: " + excerpt(current));
      if (const char* problem = unbalanced(std::string_view(text).substr(pos, next - pos)))
        fail(at, std::string("cannot parse record (") + problem + "): " + excerpt(current));
      if (ldns_rr_ttl(rr.get()) == kNoTtlMarker) {
        ldns_rr_set_ttl(rr.get(), default_ttl);
      } else if (ldns_rr_ttl(rr.get()) > kMaxTtl) {
        fail(at, "TTL " + std::to_string(ldns_rr_ttl(rr.get())) + " is above 2147483647 (RFC 2181 §8)");
      }
      add_record(*rr, at, *wire);
      previous_owner.reset(ldns_rdf_clone(ldns_rr_owner(rr.get())));
      line += static_cast<int>(
          std::count(text.begin() + static_cast<long>(pos), text.begin() + static_cast<long>(next), '\n'));
      pos = next;
    }
    stack_.pop_back();
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
    out_.push_back(std::move(record));
  }

  std::vector<SourceRecord>& out_;
  std::deque<std::string> names_;             // display names; Locations point here
  std::vector<std::filesystem::path> stack_;  // files being read (loop guard)
  Location last_;
};

// Types that describe queries or transactions, never zone data (RFC 6895 §3.1).
bool is_meta_type(uint16_t type) { return type == rrtype::OPT || (type >= 128 && type <= 255); }

// DNSSEC records that may sit beside a CNAME (RFC 4035 §2.5).
bool may_accompany_cname(uint16_t type) { return type == rrtype::RRSIG || type == rrtype::NSEC; }

// At a delegation point the parent holds only the cut's NS, DS, its DNSSEC records and
// glue addresses (RFC 4035 §2.4, RFC 9471).
bool allowed_at_cut(uint16_t type) {
  return type == rrtype::NS || type == rrtype::DS || type == rrtype::A || type == rrtype::AAAA ||
         type == rrtype::RRSIG || type == rrtype::NSEC;
}

bool is_wildcard(const Name& name) { return name.size() > 1 && name.first_label() == "*"; }

// The target of a CNAME/NS rdata, when well formed.
std::optional<Name> rdata_name(const std::vector<uint8_t>& rdata) { return Name::from_wire(rdata); }

struct BuildRRset {
  RRset rrset;
  Location first;
  bool ttl_warned = false;
};
struct BuildNode {
  std::vector<BuildRRset> rrsets;
  BuildRRset* find(uint16_t type) {
    for (auto& r : rrsets)
      if (r.rrset.type == type) return &r;
    return nullptr;
  }
};

std::shared_ptr<const Zone> build_zone(const Name& apex, const std::vector<SourceRecord>& records,
                                       const Location& end_of_file) {
  const std::string apex_text = apex.to_text();
  std::unordered_map<Name, BuildNode, dns::NameHash> nodes;
  const SourceRecord* soa = nullptr;

  for (const auto& record : records) {
    const std::string owner_text = record.owner.to_text();
    if (record.rclass != dns::rrclass::IN)
      fail(record.at,
           "class " + dns::class_to_string(record.rclass) + " at " + owner_text + ": zones are class IN only");
    if (!record.owner.is_subdomain_of(apex))
      fail(record.at, "owner " + owner_text + " is outside the zone " + apex_text);
    if (is_meta_type(record.type))
      fail(record.at, type_name(record.type) + " is a query or meta type and cannot appear in a zone");
    if (record.type == rrtype::DNAME)
      fail(record.at, "DNAME at " + owner_text + " is not supported by the file plugin");
    if (record.type == rrtype::SOA) {
      if (!(record.owner == apex)) fail(record.at, "SOA at " + owner_text + " is not at the zone apex " + apex_text);
      if (soa) fail(record.at, "second SOA record: a zone has exactly one (the first is at " + soa->at.text() + ")");
      soa = &record;
    }
    if (record.type == rrtype::NS && is_wildcard(record.owner))
      fail(record.at, "NS at the wildcard " + owner_text + " is not supported (RFC 4592 §4.2)");
    if (record.type == rrtype::CNAME || record.type == rrtype::NS) {
      if (!rdata_name(record.rdata)) fail(record.at, "malformed target name");
    }

    BuildNode& node = nodes[record.owner];
    // RFC 1034 §3.6.2 and RFC 2181 §10.1: an alias has one target and no other data.
    if (record.type == rrtype::CNAME) {
      for (const auto& other : node.rrsets) {
        if (other.rrset.type == rrtype::CNAME) {
          if (other.rrset.rdatas.front() != record.rdata)
            fail(record.at, "second CNAME at " + owner_text +
                                ": an alias has exactly one target (RFC 2181 §10.1); "
                                "the first is at " +
                                other.first.text());
        } else if (!may_accompany_cname(other.rrset.type)) {
          fail(record.at, "CNAME at " + owner_text + " cannot coexist with other data (RFC 1034 §3.6.2); the " +
                              type_name(other.rrset.type) + " record is at " + other.first.text());
        }
      }
    } else if (!may_accompany_cname(record.type)) {
      if (const BuildRRset* cname = node.find(rrtype::CNAME))
        fail(record.at, type_name(record.type) + " at " + owner_text + " conflicts with the CNAME at " +
                            cname->first.text() + " (RFC 1034 §3.6.2: an alias has no other data)");
    }

    BuildRRset* rrset = node.find(record.type);
    if (!rrset) {
      rrset = &node.rrsets.emplace_back();
      rrset->rrset.type = record.type;
      rrset->rrset.ttl = record.ttl;
      rrset->first = record.at;
    }
    if (record.ttl != rrset->rrset.ttl) {
      // RFC 2181 §5.2: an RRset has one TTL; receivers use the lowest.
      if (!rrset->ttl_warned)
        log::warn(record.at.text() + ": TTL " + std::to_string(record.ttl) + " differs from the " +
                  type_name(record.type) + " RRset's TTL at " + rrset->first.text() + "; using the lowest");
      rrset->ttl_warned = true;
      rrset->rrset.ttl = std::min(rrset->rrset.ttl, record.ttl);
    }
    // An RRset is a set (RFC 2181 §5): repeated records are kept once.
    auto& rdatas = rrset->rrset.rdatas;
    if (std::find(rdatas.begin(), rdatas.end(), record.rdata) == rdatas.end()) rdatas.push_back(record.rdata);
  }

  if (!soa) fail(end_of_file, "zone " + apex_text + " has no SOA record at its apex");
  auto apex_it = nodes.find(apex);
  if (!apex_it->second.find(rrtype::NS)) fail(soa->at, "zone apex " + apex_text + " has no NS records");

  // Zone cuts: NS anywhere below the apex.
  auto is_cut = [&](const Name& name) -> bool {
    if (name == apex) return false;
    auto it = nodes.find(name);
    return it != nodes.end() && it->second.find(rrtype::NS) != nullptr;
  };
  // RFC 1034 §4.2.1: below a cut the parent holds nothing but glue; anything else
  // there would silently never be served, so it is refused.
  const size_t apex_labels = apex.label_count();
  for (const auto& record : records) {
    const size_t labels = record.owner.label_count();
    for (size_t depth = apex_labels + 1; depth < labels; ++depth) {
      const Name ancestor = record.owner.parent(labels - depth);
      if (!is_cut(ancestor)) continue;
      if (record.type != rrtype::A && record.type != rrtype::AAAA)
        fail(record.at, type_name(record.type) + " at " + record.owner.to_text() + " lies below the delegation " +
                            ancestor.to_text() + " and would never be served; only glue (A/AAAA) belongs there");
      break;
    }
    if (is_cut(record.owner) && !allowed_at_cut(record.type))
      fail(record.at, type_name(record.type) + " at the delegation point " + record.owner.to_text() +
                          " belongs in the child zone; only NS, DS and glue belong here");
  }

  Zone::NodeMap final_nodes;
  final_nodes.reserve(nodes.size() * 2);
  for (auto& [name, build] : nodes) {
    Node node;
    for (auto& r : build.rrsets) node.rrsets.push_back(std::move(r.rrset));
    std::sort(node.rrsets.begin(), node.rrsets.end(), [](const RRset& a, const RRset& b) { return a.type < b.type; });
    node.delegation = is_cut(name);
    final_nodes.emplace(name, std::move(node));
  }
  // Empty non-terminals (RFC 8020 §2): every ancestor of a name exists.
  for (const auto& [name, build] : nodes) {
    (void)build;
    const size_t labels = name.label_count();
    for (size_t up = 1; labels - up > apex_labels; ++up) final_nodes.try_emplace(name.parent(up));
  }
  // Glue: names strictly below a cut.
  for (auto& [name, node] : final_nodes) {
    const size_t labels = name.label_count();
    for (size_t up = 1; labels - up > apex_labels; ++up) {
      if (is_cut(name.parent(up))) {
        node.glue = true;
        break;
      }
    }
  }
  return std::make_shared<const Zone>(apex, std::move(final_nodes));
}

}  // namespace

std::shared_ptr<const Zone> load_zone(const Name& apex, const std::filesystem::path& path) {
  std::vector<SourceRecord> records;
  MasterFileReader reader(records);
  const Name lowered = apex.lowered();
  reader.read_top(path, lowered);
  return build_zone(lowered, records, reader.last_location());
}

}  // namespace stsd::file
