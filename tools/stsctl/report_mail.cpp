#include "report_mail.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <memory>
#include <mutex>

namespace stsctl {
namespace {

struct GObjectUnref {
  void operator()(void* object) const {
    if (object != nullptr) g_object_unref(object);
  }
};
template <class T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;

struct GFree {
  void operator()(char* text) const { g_free(text); }
};

void init_gmime_once() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// A message/rfc822 part inside a report (a forwarded report) is followed; GMime bounds
// the nesting it parses, this bounds the walk over it.
constexpr int kMaxDepth = 16;

bool ends_with_ignoring_case(std::string_view text, std::string_view suffix) {
  if (text.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), text.end() - static_cast<std::ptrdiff_t>(suffix.size()),
                    [](char a, char b) { return g_ascii_tolower(a) == g_ascii_tolower(b); });
}

std::string mime_type_of(GMimeObject* object) {
  GMimeContentType* type = g_mime_object_get_content_type(object);
  if (type == nullptr) return "text/plain";  // RFC 2045 §5.2: the default
  std::unique_ptr<char, GFree> text(g_mime_content_type_get_mime_type(type));
  return text ? std::string(text.get()) : std::string("text/plain");
}

// The report media type a part carries, or "" when it is not a report (RFC 8460 §5.3,
// and the generic types with a report file name that some reporters send instead).
std::string report_media_type(GMimePart* part) {
  GMimeContentType* type = g_mime_object_get_content_type(GMIME_OBJECT(part));
  if (type == nullptr) return "";
  if (g_mime_content_type_is_type(type, "application", "tlsrpt+gzip")) return "application/tlsrpt+gzip";
  if (g_mime_content_type_is_type(type, "application", "tlsrpt+json")) return "application/tlsrpt+json";
  const char* name = g_mime_part_get_filename(part);
  if (name == nullptr) return "";
  const bool generic = g_mime_content_type_is_type(type, "application", "gzip") ||
                       g_mime_content_type_is_type(type, "application", "x-gzip") ||
                       g_mime_content_type_is_type(type, "application", "json") ||
                       g_mime_content_type_is_type(type, "application", "octet-stream");
  if (!generic) return "";
  if (ends_with_ignoring_case(name, ".json.gz")) return "application/tlsrpt+gzip";
  if (ends_with_ignoring_case(name, ".json")) return "application/tlsrpt+json";
  return "";
}

struct ParserWarnings {
  std::vector<std::string> words;
  bool truncated = false;
};

std::string warning_words(GMimeParserWarning code) {
  switch (code) {
    case GMIME_WARN_MALFORMED_MULTIPART: return "a multipart has no parts (wrong boundary?)";
    case GMIME_WARN_TRUNCATED_MESSAGE: return "the message is cut short";
    case GMIME_WARN_MALFORMED_MESSAGE: return "the message is malformed";
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY: return "a multipart has no boundary parameter";
    case GMIME_CRIT_NESTING_OVERFLOW: return "MIME parts are nested too deeply";
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT: return "a part has neither headers nor content";
    case GMIME_CRIT_INVALID_HEADER_NAME: return "a header name is invalid";
    case GMIME_WARN_INVALID_CONTENT_TYPE: return "a Content-Type is invalid";
    default: return "";  // cosmetic (duplicated headers, 8-bit header text, ...)
  }
}

void collect_warning(gint64 offset, GMimeParserWarning code, const gchar* /*item*/, gpointer data) {
  auto& warnings = *static_cast<ParserWarnings*>(data);
  if (code == GMIME_WARN_TRUNCATED_MESSAGE) warnings.truncated = true;
  std::string words = warning_words(code);
  if (words.empty() || warnings.words.size() >= 5) return;
  if (offset >= 0) words += " (at byte " + std::to_string(offset) + ")";
  if (std::find(warnings.words.begin(), warnings.words.end(), words) == warnings.words.end())
    warnings.words.push_back(std::move(words));
}

std::string decoded_content(GMimePart* part, const std::string& where) {
  GMimeDataWrapper* content = g_mime_part_get_content(part);
  if (content == nullptr) throw ReportMailError(where + " is empty");
  GObjectPtr<GMimeStream> sink(g_mime_stream_mem_new());
  if (g_mime_data_wrapper_write_to_stream(content, sink.get()) < 0)
    throw ReportMailError(where + ": its content cannot be decoded");
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(sink.get()));
  if (bytes->len > kMaxReportPartBytes)
    throw ReportMailError(where + " is " + std::to_string(bytes->len) + " bytes decoded, more than the " +
                          std::to_string(kMaxReportPartBytes) + " a report may have");
  return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// The decoded bytes must be what the type says: a wrong transfer encoding or a damaged
// attachment shows here, with the part named, rather than as a refusal from the server.
void check_content(const MailReport& report, const std::string& where) {
  if (report.bytes.empty()) throw ReportMailError(where + " is empty");
  if (report.media_type == "application/tlsrpt+gzip") {
    // RFC 1952 §2.3.1: ID1 ID2 = 0x1f 0x8b.
    if (report.bytes.size() < 18 || static_cast<unsigned char>(report.bytes[0]) != 0x1f ||
        static_cast<unsigned char>(report.bytes[1]) != 0x8b)
      throw ReportMailError(where + " is not gzip data (damaged, or a wrong Content-Transfer-Encoding)");
    return;
  }
  const auto first = report.bytes.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || report.bytes[first] != '{')
    throw ReportMailError(where + " is not a JSON object (damaged, or a wrong Content-Transfer-Encoding)");
}

struct Walk {
  std::vector<MailReport> reports;
  std::vector<std::string> seen;  // the media types of the leaf parts, for "no report part"

  void visit(GMimeObject* object, int depth) {
    if (depth > kMaxDepth) throw ReportMailError("MIME parts are nested more than " + std::to_string(kMaxDepth) + " deep");
    if (GMIME_IS_MULTIPART(object)) {
      GMimeMultipart* multipart = GMIME_MULTIPART(object);
      for (int i = 0, n = g_mime_multipart_get_count(multipart); i < n; ++i)
        visit(g_mime_multipart_get_part(multipart, i), depth + 1);
      return;
    }
    if (GMIME_IS_MESSAGE_PART(object)) {
      GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
      if (inner != nullptr && g_mime_message_get_mime_part(inner) != nullptr)
        visit(g_mime_message_get_mime_part(inner), depth + 1);
      return;
    }
    if (!GMIME_IS_PART(object)) return;
    GMimePart* part = GMIME_PART(object);
    MailReport report;
    report.media_type = report_media_type(part);
    if (report.media_type.empty()) {
      if (seen.size() < 10) seen.push_back(mime_type_of(object));
      return;
    }
    if (const char* name = g_mime_part_get_filename(part)) report.filename = name;
    const std::string where = "the " + mime_type_of(object) + " part" +
                              (report.filename.empty() ? std::string() : " '" + report.filename + "'");
    report.bytes = decoded_content(part, where);
    check_content(report, where);
    reports.push_back(std::move(report));
  }
};

std::string joined(const std::vector<std::string>& words, const std::string& separator) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : separator) + word;
  return out;
}

}  // namespace

std::vector<MailReport> extract_reports(std::string_view message) {
  if (message.size() > kMaxReportMailBytes)
    throw ReportMailError("the message is larger than " + std::to_string(kMaxReportMailBytes) + " bytes");
  if (message.find_first_not_of(" \t\r\n") == std::string_view::npos) throw ReportMailError("the message is empty");
  init_gmime_once();

  ParserWarnings warnings;
  std::unique_ptr<GMimeParserOptions, decltype(&g_mime_parser_options_free)> options(g_mime_parser_options_new(),
                                                                                      &g_mime_parser_options_free);
  g_mime_parser_options_set_warning_callback(options.get(), collect_warning, &warnings);
  // The stream reads the caller's bytes in place (it does not own them).
  GObjectPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(message.data(), message.size()));
  GObjectPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GObjectPtr<GMimeMessage> parsed(g_mime_parser_construct_message(parser.get(), options.get()));
  const std::string problems = warnings.words.empty() ? "" : " (" + joined(warnings.words, "; ") + ")";
  if (!parsed || g_mime_message_get_mime_part(parsed.get()) == nullptr)
    throw ReportMailError("not an RFC 5322 message: no header block with a body" + problems);

  GMimeObject* body = g_mime_message_get_mime_part(parsed.get());
  Walk walk;
  walk.visit(body, 0);
  // A report cut short would reach the server as broken gzip; say what happened instead.
  if (warnings.truncated && !walk.reports.empty())
    throw ReportMailError(joined(warnings.words, "; ") + ", so its report part may be incomplete");
  if (walk.reports.empty()) {
    const std::string top = mime_type_of(body);
    std::string words = "no application/tlsrpt+gzip or application/tlsrpt+json part: the message is " + top;
    if (GMIME_IS_MULTIPART(body)) words += " with parts " + (walk.seen.empty() ? "none" : joined(walk.seen, ", "));
    throw ReportMailError(words + problems);
  }
  return std::move(walk.reports);
}

}  // namespace stsctl
