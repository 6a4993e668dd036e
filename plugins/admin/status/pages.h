#pragma once
// The status page's two views, rendered from plain data so they can be tested without a
// store: the domain list (search and paging) and one domain's status document.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stsd::admin::status {

// One line of the list.
struct DomainRow {
  std::string domain;
  std::optional<uint32_t> staged;     // the newest staged version
  std::optional<uint32_t> confirmed;
  bool pending = false;               // staged newer than confirmed
  std::optional<std::string> drift_hold;  // the hold's reason while the id is frozen by drift
  bool rotation_held = false;         // the id waits for evidence (issue 11)
  bool retiring = false;
  std::string served_id;              // empty: nothing confirmed, DNS answers NODATA
  int64_t next_rotation = 0;          // 0: none scheduled (nothing confirmed, or held)
};

struct ListView {
  std::string query;  // the search as applied (lower case); empty: every domain
  std::string after;  // the cursor this page starts after; empty: the first page
  std::vector<DomainRow> rows;
  // Where the next page starts (the last name looked at), or nullopt on the last page.
  std::optional<std::string> next_after;
  // A search that stopped at its scan budget before filling the page: the page says how
  // far it looked, and "next" continues from there.
  bool scan_budget_spent = false;
  size_t scanned = 0;
  size_t total_domains = 0;
  size_t pending_domains = 0;
  bool store_writable = true;
  std::string store_reason;  // why the store refuses writes
  int64_t now = 0;
};

std::string render_list_page(const ListView& view);

// `status`: the admin API's status document (api_documents.h status_json), so the page
// and `stsctl status` show the same facts.
std::string render_domain_page(const nlohmann::json& status);

std::string render_error_page(unsigned status, const std::string& message);

}  // namespace stsd::admin::status
