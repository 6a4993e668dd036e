#include "pages.h"

#include <algorithm>

#include "html.h"

namespace stsd::admin::status {

using nlohmann::json;

namespace {

std::string version_text(const std::optional<uint32_t>& version) {
  return version ? std::to_string(*version) : std::string("—");
}

std::string badge(std::string_view css_class, std::string_view text) {
  return "<span class=\"badge " + std::string(css_class) + "\">" + html_escape(text) + "</span>";
}

std::string row_badges(const DomainRow& row) {
  std::string out;
  if (row.drift_hold) out += badge("drift-hold", "drift hold");
  if (row.rotation_held) out += badge("rotation-held", "rotation held");
  if (row.pending) out += badge("pending", "pending");
  if (row.retiring) out += badge("retiring", "retiring");
  if (out.empty() && row.confirmed) out += badge("ok", "ok");
  return out;
}

std::string list_link(const std::string& query, const std::string& after) {
  std::string link = "/?q=" + url_component(query);
  if (!after.empty()) link += "&after=" + url_component(after);
  return html_escape(link);
}

std::string domain_link(const std::string& domain) {
  return "<a href=\"/domains/" + html_escape(url_component(domain)) + "\">" + html_escape(domain) + "</a>";
}

void append_summary(std::string& out, const ListView& view) {
  out += "<p id=\"summary\">" + std::to_string(view.total_domains) + " domains, " +
         std::to_string(view.pending_domains) + " with a version waiting for confirmation. ";
  if (view.store_writable)
    out += "The store accepts writes.";
  else
    out += "<strong>The store refuses writes:</strong> " + html_escape(view.store_reason);
  out += " <span class=\"note\">As of " + html_escape(when(view.now)) + ".</span></p>\n";
}

void append_search_form(std::string& out, const ListView& view) {
  // GET, so a search is a link that can be shared and reloaded, and works without script.
  out += "<form method=\"get\" action=\"/\" role=\"search\"><label for=\"q\">Domain contains </label>"
         "<input type=\"search\" id=\"q\" name=\"q\" maxlength=\"253\" value=\"" +
         html_escape(view.query) + "\"> <button type=\"submit\">Search</button></form>\n";
}

void append_rows(std::string& out, const ListView& view) {
  if (view.rows.empty() && view.scan_budget_spent) {
    out += "<p id=\"no-match\">No domain contains “" + html_escape(view.query) + "” among the " +
           std::to_string(view.scanned) + " names looked at so far.</p>\n";
    return;
  }
  if (view.rows.empty()) {
    out += "<p id=\"no-match\">" +
           std::string(view.query.empty() ? "No domains here."
                                          : "No domain contains “" + html_escape(view.query) + "”" +
                                                (view.after.empty() ? "." : " after this point.")) +
           "</p>\n";
    return;
  }
  out += "<table id=\"domains\"><thead><tr><th>Domain</th><th>Staged</th><th>Confirmed</th><th>Id served now</th>"
         "<th>Next rotation</th><th>State</th></tr></thead><tbody>\n";
  for (const auto& row : view.rows) {
    out += "<tr><td>" + domain_link(row.domain) + "</td><td>" + version_text(row.staged) + "</td><td>" +
           version_text(row.confirmed) + "</td><td class=\"id\">" +
           (row.served_id.empty() ? std::string("—") : html_escape(row.served_id)) + "</td><td class=\"when\">" +
           html_escape(when(row.next_rotation)) + "</td><td>" + row_badges(row);
    if (row.drift_hold) out += " <span class=\"note\">" + html_escape(*row.drift_hold) + "</span>";
    out += "</td></tr>\n";
  }
  out += "</tbody></table>\n";
}

void append_paging(std::string& out, const ListView& view) {
  if (view.scan_budget_spent) {
    out += "<p class=\"note\" id=\"scan-note\">This search looked through " + std::to_string(view.scanned) +
           " names, up to " + html_escape(view.next_after.value_or("")) +
           " (each page looks through at most that many); the next page goes on from there.</p>\n";
  }
  out += "<nav>";
  if (!view.after.empty()) out += "<a href=\"" + list_link(view.query, "") + "\" id=\"first\">First page</a>";
  if (view.next_after) out += "<a href=\"" + list_link(view.query, *view.next_after) + "\" id=\"next\">Next page →</a>";
  out += "</nav>\n";
}

// --- one domain ---------------------------------------------------------------------

std::string text_of(const json& value) {
  if (value.is_null()) return "—";
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string field(const json& object, const char* name) {
  return object.is_object() && object.contains(name) ? html_escape(text_of(object[name])) : std::string("—");
}

void append_hold(std::string& out, const json& status) {
  const json& hold = status.value("hold", json());
  if (hold.is_null()) return;
  // A drift hold: a vantage serves something other than the confirmed version, so the id
  // stops rotating until it is fixed (plugins/confirm/README.md).
  out += "<div class=\"alert\" id=\"drift-hold\"><strong>Drift hold</strong> since " + field(hold, "since") +
         ": the id served now does not rotate. " + field(hold, "reason") + "</div>\n";
}

void append_versions(std::string& out, const json& status) {
  out += "<h2>Versions</h2><table id=\"versions\"><thead><tr><th></th><th>Version</th><th>Mode</th><th>MX</th>"
         "<th>max_age</th><th>Created</th><th>Digest</th></tr></thead><tbody>\n";
  for (const char* which : {"staged", "confirmed"}) {
    const json& version = status.value(which, json());
    out += std::string("<tr><th>") + which + "</th>";
    if (version.is_null()) {
      out += "<td colspan=\"6\">none</td></tr>\n";
      continue;
    }
    std::string mx;
    for (const auto& host : version.value("mx", json::array())) mx += (mx.empty() ? "" : ", ") + text_of(host);
    out += "<td>" + field(version, "version") + "</td><td>" + field(version, "mode") + "</td><td>" + html_escape(mx) +
           "</td><td>" + field(version, "max_age") + "</td><td class=\"when\">" +
           field(version, "created_at") + "</td><td class=\"id digest\" title=\"" + field(version, "digest") + "\">" +
           field(version, "digest") + "</td></tr>\n";
  }
  out += "</tbody></table>\n";
  if (status.value("pending", false))
    out += "<p>" + badge("pending", "pending") + " The staged version waits for confirmation.</p>\n";
  const json& confirmation = status.value("confirmation", json());
  if (!confirmation.is_null()) {
    out += "<p>Version " + field(confirmation, "version") + " confirmed at " + field(confirmation, "at") +
           (confirmation.value("manual", false) ? " by hand" : " by the confirmer") + ": " +
           field(confirmation, "reason") + "</p>\n";
  }
}

void append_rotation(std::string& out, const json& status) {
  out += "<h2>Id</h2><dl id=\"rotation\"><dt>Served now</dt><dd class=\"id\">" + field(status, "txt") +
         "</dd><dt>Next rotation</dt><dd>" + field(status, "next_rotation") +
         "</dd><dt>Rotation offset (seconds into every period)</dt><dd>" + field(status, "rotation_offset_seconds") +
         "</dd><dt>Evidence allows rotation until</dt><dd>" + field(status, "rotate_until") + "</dd>";
  if (status.value("rotation_held", false))
    out += "<dt>Rotation held</dt><dd>" + badge("rotation-held", "rotation held") + " since " +
           field(status, "rotation_held_since") + "</dd>";
  out += "</dl>\n";
  const json& retirement = status.value("retirement", json());
  if (!retirement.is_null()) {
    out += "<h2>Retirement</h2>";
    append_json(out, retirement);
  }
}

// A section another service registered (AdminExtensions::add_status_section): its
// one-line summaries first, then its lists of records as tables (the confirmer's
// vantages: each one's last probe), then every other field, folded (a <details>
// element opens without script).
void append_section(std::string& out, const std::string& name, const json& section) {
  out += "<section id=\"section-" + html_escape(url_component(name)) + "\"><h2>" + html_escape(name) + "</h2>\n";
  if (!section.is_object()) {
    append_json(out, section);
    out += "</section>\n";
    return;
  }
  if (section.contains("lines")) {
    out += "<ul class=\"lines\">";
    for (const auto& line : section["lines"]) out += "<li>" + html_escape(text_of(line)) + "</li>";
    out += "</ul>\n";
  }
  json tables = json::object();
  json rest = json::object();
  for (const auto& [key, value] : section.items()) {
    if (key == "lines") continue;
    const bool records = value.is_array() && !value.empty() &&
                         std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_object(); });
    (records ? tables : rest)[key] = value;
  }
  for (const auto& [key, value] : tables.items()) {
    out += "<h3>" + html_escape(key) + "</h3>";
    append_json(out, value);
  }
  if (!rest.empty()) {
    out += "<details><summary>All fields</summary>";
    append_json(out, rest);
    out += "</details>\n";
  }
  out += "</section>\n";
}

void append_events(std::string& out, const json& status) {
  const json& events = status.value("events", json::array());
  if (events.empty()) return;
  out += "<h2>Recent events</h2><table id=\"events\"><thead><tr><th>#</th><th>At</th><th>Kind</th><th>Version</th>"
         "<th>Detail</th></tr></thead><tbody>\n";
  for (const auto& event : events) {
    out += "<tr><td>" + field(event, "seq") + "</td><td class=\"when\">" + field(event, "at") + "</td><td>" +
           field(event, "kind") + "</td><td>" + field(event, "version") + "</td><td>" + field(event, "detail") +
           "</td></tr>\n";
  }
  out += "</tbody></table>\n";
}

}  // namespace

std::string render_list_page(const ListView& view) {
  std::string body;
  body.reserve(256 * view.rows.size() + 2048);
  body += "<h1>Domains</h1>\n";
  append_summary(body, view);
  append_search_form(body, view);
  append_rows(body, view);
  append_paging(body, view);
  return page(view.query.empty() ? "Domains" : "Search: " + view.query, body);
}

std::string render_domain_page(const json& status) {
  const std::string domain = text_of(status.value("domain", json()));
  std::string body = "<h1>" + html_escape(domain) + "</h1>\n<p class=\"note\">In the store since " +
                     field(status, "created_at") + "; as of " + field(status, "now") + ".</p>\n";
  append_hold(body, status);
  append_versions(body, status);
  append_rotation(body, status);
  body += "<h2>Settings</h2>";
  append_json(body, status.value("settings", json::object()));
  const json& sections = status.value("extensions", json::object());
  for (const auto& [name, section] : sections.items()) append_section(body, name, section);
  append_events(body, status);
  return page(domain, body);
}

std::string render_error_page(unsigned status, const std::string& message) {
  return page("Error " + std::to_string(status),
              "<h1>" + std::to_string(status) + "</h1><p id=\"error\">" + html_escape(message) + "</p>");
}

}  // namespace stsd::admin::status
