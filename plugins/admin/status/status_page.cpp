#include "status_page.h"

#include <algorithm>

#include "api_documents.h"
#include "api_request.h"
#include "dns/tsig.h"
#include "html.h"
#include "token_compare.h"

namespace stsd::admin::status {

namespace {

// Names read from the store per step of a search.
constexpr size_t kSearchChunk = 2048;

http::Reply html_reply(unsigned status, std::string body) {
  http::Reply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.headers = {
      {"Content-Type", "text/html; charset=utf-8"},
      {"Cache-Control", "no-store"},
      // No script, no frames, no inline style, forms only to this page: even a value that
      // escaped escaping could not run (defence in depth, CSP Level 3).
      {"Content-Security-Policy",
       "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  return reply;
}

http::Reply error_reply(unsigned status, const std::string& message) {
  return html_reply(status, render_error_page(status, message));
}

http::Reply style_reply() {
  http::Reply reply;
  reply.body = std::string(kStyleSheet);
  reply.headers = {{"Content-Type", "text/css; charset=utf-8"},
                   {"Cache-Control", "max-age=3600"},
                   {"X-Content-Type-Options", "nosniff"}};
  return reply;
}

// The password of an RFC 7617 Basic credential (user name ignored), or nullopt.
std::optional<std::string> basic_password(std::string_view credentials) {
  const auto decoded = dns::tsig::decode_secret(credentials);
  if (!decoded) return std::nullopt;
  std::string text(decoded->begin(), decoded->end());
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return text.substr(colon + 1);
}

}  // namespace

std::optional<std::string> normalize_search(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return std::string();
  text = text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
  if (text.size() > 1 && text.back() == '.') text.remove_suffix(1);
  if (text.size() > 253) return std::nullopt;
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void StatusPage::set_token(std::string token) {
  std::lock_guard lock(token_mutex_);
  token_ = std::move(token);
}

std::optional<http::Reply> StatusPage::check_token(const http::Request& request) const {
  std::string token;
  {
    std::lock_guard lock(token_mutex_);
    token = token_;
  }
  if (token.empty()) return std::nullopt;
  // Bearer (RFC 6750 §2.1) for scripts and monitors; Basic (RFC 7617) for browsers,
  // which ask for it themselves: any user name, the token as the password.
  if (const std::string* authorization = request.header("Authorization")) {
    std::string_view value = *authorization;
    if (starts_with_without_case(value, "Bearer ") && constant_time_equal(value.substr(7), token))
      return std::nullopt;
    if (starts_with_without_case(value, "Basic ")) {
      const auto password = basic_password(value.substr(6));
      if (password && constant_time_equal(*password, token)) return std::nullopt;
    }
  }
  auto reply = error_reply(401, "This status page needs its token: any user name, the token as the password.");
  reply.headers.emplace_back("WWW-Authenticate", "Basic realm=\"stsd status\", charset=\"UTF-8\"");
  reply.close = true;
  return reply;
}

std::optional<DomainRow> StatusPage::row_of(const std::string& domain, int64_t now) const {
  const auto status = state_->status(domain, now);
  if (!status) return std::nullopt;  // removed since the names were read
  DomainRow row;
  row.domain = domain;
  if (status->staged) row.staged = status->staged->number;
  if (status->confirmed) row.confirmed = status->confirmed->number;
  row.pending = is_pending(status->staged, status->confirmed);
  if (status->hold) row.drift_hold = status->hold->reason;
  row.rotation_held = status->rotation_held;
  row.retiring = status->retirement.has_value();
  row.served_id = status->served_id;
  row.next_rotation = status->next_rotation;
  return row;
}

ListView StatusPage::list(const std::string& query, const std::string& after, size_t page_size,
                          size_t scan_budget) const {
  ListView view;
  view.query = query;
  view.after = after;
  view.now = state_->now();
  view.total_domains = state_->domain_count();
  view.pending_domains = state_->pending_domains().size();
  const auto health = state_->health();
  view.store_writable = health.writable;
  view.store_reason = health.reason;

  // One name more than a page tells whether another page follows.
  std::vector<std::string> names;
  if (query.empty()) {
    names = state_->domains(after, page_size + 1);
    view.scanned = names.size();
  } else {
    std::string cursor = after;
    bool at_end = false;
    while (names.size() <= page_size && view.scanned < scan_budget) {
      const size_t wanted = std::min(kSearchChunk, scan_budget - view.scanned);
      const auto chunk = state_->domains(cursor, wanted);
      for (const auto& name : chunk) {
        ++view.scanned;
        cursor = name;
        if (name.find(query) == std::string::npos) continue;
        names.push_back(name);
        if (names.size() > page_size) break;
      }
      if (chunk.size() < wanted) {
        at_end = true;
        break;
      }
    }
    // A budget spent on the store's last name leaves nothing for a next page.
    if (names.size() <= page_size && !at_end && !state_->domains(cursor, 1).empty()) {
      view.scan_budget_spent = true;
      view.next_after = cursor;
    }
  }
  if (names.size() > page_size) {
    names.resize(page_size);
    view.next_after = names.back();
  }
  for (const auto& name : names)
    if (auto row = row_of(name, view.now)) view.rows.push_back(std::move(*row));
  return view;
}

http::Reply StatusPage::handle(const http::Request& request) const {
  if (request.method != "GET" && request.method != "HEAD") {
    auto reply = error_reply(405, "This page is read-only: use GET.");
    reply.headers.emplace_back("Allow", "GET, HEAD");
    return reply;
  }
  try {
    const Target target = parse_target(request.target);
    const auto& segments = target.segments;
    if (segments.empty()) {
      const auto query = normalize_search(target.query_text("q"));
      if (!query) return error_reply(400, "A search is at most 253 characters long (a domain name).");
      return html_reply(200, render_list_page(list(*query, target.query_text("after"))));
    }
    if (segments.size() == 1 && segments[0] == "style.css") return style_reply();
    if (segments.size() == 2 && segments[0] == "domains") {
      const std::string domain = store::normalize_domain(segments[1]);
      const auto document = status_json(*state_, *hooks_, domain, state_->now(), kDomainPageEvents);
      return html_reply(200, render_domain_page(document));
    }
    return error_reply(404, "Nothing here: the status page has the domain list (/) and one page per domain "
                            "(/domains/NAME).");
  } catch (const HttpError& error) {
    return error_reply(error.status, error.message);
  } catch (const store::PolicyError& error) {
    return error_reply(400, error.what());
  } catch (const std::exception& error) {
    return error_reply(500, std::string("The store could not be read: ") + error.what());
  }
}

}  // namespace stsd::admin::status
