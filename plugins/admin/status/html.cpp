#include "html.h"

#include <algorithm>
#include <cctype>

#include "utc_time.h"

namespace stsd::admin::status {

namespace {
// Sections are other services' documents; the confirmer's nests three levels deep.
constexpr int kMaxDepth = 4;
constexpr std::string_view kNothing = "—";

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

void append_scalar(std::string& out, const nlohmann::json& value, std::string_view key) {
  if (value.is_null()) {
    out += kNothing;
  } else if (value.is_boolean()) {
    out += value.get<bool>() ? "yes" : "no";
  } else if (value.is_number_integer() && is_time_field(key)) {
    const int64_t seconds = value.get<int64_t>();
    out += "<time>" + html_escape(when(seconds)) + "</time>";
  } else if (value.is_string()) {
    out += html_escape(value.get<std::string>());
  } else {
    out += html_escape(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

void append_table(std::string& out, const nlohmann::json& rows, int depth) {
  std::vector<std::string> columns;
  for (const auto& row : rows)
    for (const auto& [name, _] : row.items())
      if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
  out += "<table><thead><tr>";
  for (const auto& column : columns) out += "<th>" + html_escape(column) + "</th>";
  out += "</tr></thead><tbody>";
  for (const auto& row : rows) {
    out += "<tr>";
    for (const auto& column : columns) {
      out += "<td>";
      if (row.contains(column)) append_json(out, row[column], column, depth + 1);
      out += "</td>";
    }
    out += "</tr>";
  }
  out += "</tbody></table>";
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string url_component(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string when(int64_t unix_seconds) {
  if (unix_seconds == 0) return std::string(kNothing);
  return iso8601(unix_seconds);
}

bool is_time_field(std::string_view key) {
  return ends_with(key, "_at") || ends_with(key, "not_after") || ends_with(key, "until") || ends_with(key, "_since");
}

void append_json(std::string& out, const nlohmann::json& value, std::string_view key, int depth) {
  if (depth >= kMaxDepth && (value.is_object() || value.is_array())) {
    out += "<code>" + html_escape(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "</code>";
    return;
  }
  if (value.is_object()) {
    if (value.empty()) {
      out += kNothing;
      return;
    }
    out += "<dl>";
    for (const auto& [name, item] : value.items()) {
      out += "<dt>" + html_escape(name) + "</dt><dd>";
      append_json(out, item, name, depth + 1);
      out += "</dd>";
    }
    out += "</dl>";
  } else if (value.is_array()) {
    if (value.empty()) {
      out += kNothing;
      return;
    }
    const bool all_objects = std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_object(); });
    if (all_objects) {
      append_table(out, value, depth);
      return;
    }
    out += "<ul>";
    for (const auto& item : value) {
      out += "<li>";
      append_json(out, item, key, depth + 1);
      out += "</li>";
    }
    out += "</ul>";
  } else {
    append_scalar(out, value, key);
  }
}

std::string page(std::string_view title, std::string_view body) {
  std::string out;
  out.reserve(body.size() + 512);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<meta name=\"referrer\" content=\"no-referrer\"><title>";
  out += html_escape(title);
  out += " · stsd status</title><link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body><header>"
         "<a href=\"/\">stsd status</a></header>\n<main>\n";
  out += body;
  out += "\n</main></body></html>\n";
  return out;
}

const std::string_view kStyleSheet = R"css(body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1d3557;padding:.6em 1em}header a{color:#fff;font-weight:bold;text-decoration:none}
main{padding:1em;max-width:84em}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef}time,.when{white-space:nowrap}.digest{max-width:12em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}td dl{margin:0}dt{font-weight:bold}dd{margin:0 0 .3em 1em}
code,.id{font-family:ui-monospace,monospace}
.badge{display:inline-block;border-radius:.3em;padding:0 .4em;margin-right:.2em;font-size:.85em;color:#fff;background:#555}
.badge.drift-hold{background:#b00020}.badge.pending{background:#946200}.badge.rotation-held{background:#6a1b9a}
.badge.retiring{background:#37474f}.badge.ok{background:#2e7d32}
.alert{border:2px solid #b00020;background:#fde7ea;padding:.6em 1em;margin:.5em 0 1em}
.note{color:#555}form{margin:.5em 0 1em}input[type=search]{width:22em;padding:.2em}
nav a{margin-right:1em}
)css";

}  // namespace stsd::admin::status
