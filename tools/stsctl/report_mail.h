#pragma once
// TLS-RPT reports sent by mail (RFC 8460 §5.3): the report is an application/tlsrpt+gzip
// (or +json) part of a multipart/report message. This finds and decodes it with GMime,
// so stsctl never parses MIME by hand; what is done with the bytes is up to the caller.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stsctl {

// Bounds on untrusted mail. A real report is kilobytes (a large reporter's day for a big
// domain is a few hundred KiB of gzip); these are far above that and below anything that
// would strain memory.
inline constexpr size_t kMaxReportMailBytes = 32 * 1024 * 1024;
inline constexpr size_t kMaxReportPartBytes = 16 * 1024 * 1024;

// The message cannot give a report; the text says why, in words a postmaster can act on.
class ReportMailError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MailReport {
  std::string media_type;  // "application/tlsrpt+gzip" or "application/tlsrpt+json"
  std::string bytes;       // the part's content, transfer encoding (base64, ...) removed
  std::string filename;    // the part's file name, if any (for messages)
};

// The report parts of one RFC 5322 message, in message order (RFC 8460 §5.3 sends one;
// each found is returned). A part counts when its type is application/tlsrpt+gzip or
// application/tlsrpt+json, or, as some reporters send it, application/gzip,
// application/json or application/octet-stream with a file name ending in .json.gz or
// .json. Throws ReportMailError when the message is too large or unparseable, has no
// report part, or a report part is larger than kMaxReportPartBytes, cut short, or not
// gzip (+gzip) or JSON (+json).
std::vector<MailReport> extract_reports(std::string_view message);

}  // namespace stsctl
