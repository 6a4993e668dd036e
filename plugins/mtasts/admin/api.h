#pragma once
// The admin API's request handling, independent of the transport: an HTTP method, target
// and body in, a status and a JSON document out. The routes are documented in
// plugins/mtasts/admin/README.md.
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "hooks.h"
#include "state.h"
#include "utc_time.h"   // iso8601() for the API's times

namespace stsd::mtasts {

struct ApiRequest {
  std::string method;        // "GET", "POST", ...
  std::string target;        // "/v1/domains/example.com/status?events=5"
  std::string body;          // empty when none
};

struct ApiResponse {
  unsigned status = 200;
  nlohmann::json body;
};

// Limits that keep every request and answer bounded.
inline constexpr size_t kMaxImportRows = 5000;       // rows per POST /v1/import
inline constexpr size_t kMaxListPage = 10000;        // domains per GET /v1/domains
inline constexpr size_t kDefaultListPage = 1000;
inline constexpr size_t kMaxEvents = 10000;

class AdminApi {
 public:
  AdminApi(std::shared_ptr<PolicyState> state, std::shared_ptr<AdminHooks> hooks);

  // Never throws: bad input is a 4xx with {"error": "..."} naming the field, store
  // failures a 500.
  ApiResponse handle(const ApiRequest& request);

 private:
  ApiResponse route(const ApiRequest& request);

  std::shared_ptr<PolicyState> state_;
  std::shared_ptr<AdminHooks> hooks_;
};

}  // namespace stsd::mtasts
