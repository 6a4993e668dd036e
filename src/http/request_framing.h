#pragma once
// The one place that decides whether a request's message framing (RFC 9112 §6) is one
// every stsd HTTP listener reads the same way a proxy in front of it would. Anything
// ambiguous is refused with 400 and the connection closed (RFC 9112 §6.3), because the
// bytes after an ambiguous request could be answered as a second, smuggled request:
// - a Transfer-Encoding other than exactly `chunked` (`xchunked`, `identity`, `gzip`,
//   `gzip, chunked`, `chunked, chunked`, an empty value): we decode no other coding,
//   and chunked must be the final one (§6.3 item 4);
// - Transfer-Encoding in an HTTP/1.0 request (§6.1: its framing is faulty);
// - Transfer-Encoding together with Content-Length (§6.3 item 3, §6.1);
// - a Content-Length that is not exactly one field of digits (§6.3 item 5);
// - a body on GET or HEAD (any Transfer-Encoding, or a Content-Length other than 0): no
//   stsd resource takes one (RFC 9110 §9.3.1), and a server that ignored its length
//   would read the body as the next request.
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"

namespace stsd::http {

// Why a request with this request line and header must be refused (400, then close),
// or nullopt when its framing is unambiguous. `version` is 10 or 11.
std::optional<std::string> framing_refusal(std::string_view method, unsigned version, const Headers& headers);

}  // namespace stsd::http
