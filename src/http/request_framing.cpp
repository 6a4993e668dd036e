#include "http/request_framing.h"

#include <algorithm>
#include <vector>

#include <boost/beast/core/string.hpp>

namespace stsd::http {
namespace {

bool equal_without_case(std::string_view a, std::string_view b) {
  return boost::beast::iequals(boost::beast::string_view(a.data(), a.size()),
                               boost::beast::string_view(b.data(), b.size()));
}

std::string_view trim_whitespace(std::string_view text) {  // OWS, RFC 9110 §5.6.3
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Every transfer coding named by every Transfer-Encoding field, in order (RFC 9110
// §5.3: repeated fields are one comma-separated list); an empty member stays empty.
std::vector<std::string_view> transfer_codings(const Headers& headers) {
  std::vector<std::string_view> codings;
  for (const auto& [name, value] : headers) {
    if (!equal_without_case(name, "Transfer-Encoding")) continue;
    std::string_view rest = value;
    for (;;) {
      const size_t comma = rest.find(',');
      codings.push_back(trim_whitespace(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return codings;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool takes_no_body(std::string_view method) { return method == "GET" || method == "HEAD"; }

std::string quoted_list(const std::vector<std::string_view>& codings) {
  std::string text;
  for (const auto& coding : codings) text += (text.empty() ? "" : ", ") + printable(coding, 40);
  return "'" + text + "'";
}

}  // namespace

std::optional<std::string> framing_refusal(std::string_view method, unsigned version, const Headers& headers) {
  const std::vector<std::string_view> codings = transfer_codings(headers);
  const size_t lengths = count_headers(headers, "Content-Length");
  const std::string method_text = printable(method, 16);
  if (!codings.empty()) {
    if (version < 11) return "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)";
    if (lengths > 0) return "Transfer-Encoding together with Content-Length (RFC 9112 §6.3)";
    if (codings.size() != 1 || !equal_without_case(codings.front(), "chunked"))
      return "Transfer-Encoding " + quoted_list(codings) + " is not accepted; only 'chunked' is (RFC 9112 §6.3)";
    if (takes_no_body(method)) return "a " + method_text + " request has no body (Transfer-Encoding: chunked)";
    return std::nullopt;
  }
  if (lengths == 0) return std::nullopt;
  const std::string& length = *find_header(headers, "Content-Length");
  if (lengths > 1 || !all_digits(length))
    return "Content-Length must be one field of digits (RFC 9112 §6.3), not '" + printable(length, 40) + "'" +
           (lengths > 1 ? " and " + std::to_string(lengths - 1) + " more" : "");
  if (takes_no_body(method) && length.find_first_not_of('0') != std::string::npos)
    return "a " + method_text + " request has no body (Content-Length: " + printable(length, 20) + ")";
  return std::nullopt;
}

}  // namespace stsd::http
