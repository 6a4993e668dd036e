#pragma once
// The status page's requests: which view a GET asks for, reading the store for it, and
// the token check. Read-only: nothing here writes to the store.
//
//   GET /                      the domain list, first page
//   GET /?q=TEXT&after=NAME    domains whose name contains TEXT, after NAME (the cursor)
//   GET /domains/NAME          one domain's status (the admin API's status document)
//   GET /style.css             the style sheet
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http/message.h"
#include "pages.h"
#include "store/admin_extensions.h"
#include "store/policy_store.h"

namespace stsd::admin::status {

// Rows per page.
inline constexpr size_t kPageSize = 50;
// Names a search looks at per request before it answers with what it found: a page never
// costs more than this many keys read in order, however large the store ("next"
// continues from where it stopped). A store of up to this many domains is searched whole
// in one request: about 0.13 s at 100,000 domains, 0.5 s per request at 1,000,000 on the
// 2-CPU test machine (bench/results/2026-11-30-status-page.md).
inline constexpr size_t kSearchScanBudget = 100000;
// Events shown on a domain's page.
inline constexpr size_t kDomainPageEvents = 20;

class StatusPage {
 public:
  StatusPage(std::shared_ptr<store::PolicyStore> state, std::shared_ptr<store::AdminExtensions> hooks)
      : state_(std::move(state)), hooks_(std::move(hooks)) {}

  http::Reply handle(const http::Request& request) const;

  // The token every request must carry (empty: none asked for). Set at start and at a
  // reload's commit; requests read it.
  void set_token(std::string token);
  // A 401 asking for the token, or nullopt when the request may go on (HeaderCheck).
  std::optional<http::Reply> check_token(const http::Request& request) const;

  // The list view for a search `query` (already normalized) starting after `after`.
  ListView list(const std::string& query, const std::string& after, size_t page_size = kPageSize,
                size_t scan_budget = kSearchScanBudget) const;

 private:
  std::optional<DomainRow> row_of(const std::string& domain, int64_t now) const;

  std::shared_ptr<store::PolicyStore> state_;
  std::shared_ptr<store::AdminExtensions> hooks_;
  mutable std::mutex token_mutex_;
  std::string token_;
};

// What a search box sent, as the list matches it: lower case, without surrounding blanks
// or a trailing dot. nullopt when it cannot be part of a domain name (longer than 253).
std::optional<std::string> normalize_search(std::string_view text);

}  // namespace stsd::admin::status
