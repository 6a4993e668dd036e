#pragma once
// HTML for the status page: every value that reaches a page goes through html_escape (or
// url_component inside a link), so a domain name, a policy's mx line, a probe's error or
// a section another service registered can never become markup. The page has no script
// at all; its style sheet is served as a file so the Content-Security-Policy can forbid
// everything inline.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace stsd::admin::status {

// & < > " ' as character references (safe in text and in quoted attribute values).
std::string html_escape(std::string_view text);
// RFC 3986 §2.3: every byte but the unreserved characters percent-encoded, for a query
// parameter or a path segment.
std::string url_component(std::string_view text);
// "2026-11-30T14:00:07Z" (as the status document writes times); "—" for 0 (never happened, or nothing scheduled).
std::string when(int64_t unix_seconds);

// Whether a section's field holds Unix seconds by its name ("*_at", "*not_after",
// "*until", "*_since"): shown as a UTC time next to the number.
bool is_time_field(std::string_view key);

// Any JSON value as HTML: strings escaped, objects as definition lists, arrays of
// objects as tables with one column per key. Nesting deeper than a few levels is shown
// as escaped JSON text, so a section of any shape renders in bounded markup.
void append_json(std::string& out, const nlohmann::json& value, std::string_view key = {}, int depth = 0);

// The document around `body`: title, the style sheet link, the header with the link back
// to the list.
std::string page(std::string_view title, std::string_view body);

// GET /style.css.
extern const std::string_view kStyleSheet;

}  // namespace stsd::admin::status
