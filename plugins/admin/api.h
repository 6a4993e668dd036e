#pragma once
// The admin API's request handling, independent of the transport: an HTTP method, target
// and body in, a status, extra header fields and a JSON document out. The routes are
// documented in plugins/admin/README.md and listed in one table (api_routes.cpp).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "csv/import_csv.h"
#include "store/admin_extensions.h"
#include "store/policy_store.h"

namespace stsd::admin {

// The media types a request body may have: JSON everywhere, CSV for POST /v1/import.
inline constexpr std::string_view kJsonMediaType = "application/json";
inline constexpr std::string_view kCsvMediaType = "text/csv";

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // "/v1/domains/example.com/status?events=5"
  std::string body;    // empty when none
  std::string media_type = std::string(kJsonMediaType);  // of the body: Content-Type without parameters, lower case
};

struct ApiResponse {
  unsigned status = 200;
  nlohmann::json body;
  // Header fields the answer needs besides the transport's own (Content-Type, ...):
  // `Allow` on a 405 (RFC 9110 §15.5.6).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// Limits that keep every request and answer bounded.
inline constexpr size_t kMaxImportRows = csv::kMaxJsonRowsPerImportRequest;  // JSON rows per POST /v1/import
inline constexpr size_t kMaxListedImportProblems = 1000;  // errors or warnings listed in a CSV import's answer
inline constexpr size_t kMaxListPage = 10000;   // domains per GET /v1/domains
inline constexpr size_t kDefaultListPage = 1000;
inline constexpr size_t kMaxEvents = 10000;

class AdminApi {
 public:
  AdminApi(std::shared_ptr<store::PolicyStore> state, std::shared_ptr<store::AdminExtensions> hooks);

  // Never throws: bad input is a 4xx with {"error": "..."} naming the field, store
  // failures a 500.
  ApiResponse handle(const ApiRequest& request);

 private:
  ApiResponse dispatch(const ApiRequest& request);

  std::shared_ptr<store::PolicyStore> state_;
  std::shared_ptr<store::AdminExtensions> hooks_;
};

}  // namespace stsd::admin
