// POST /v1/import: bulk add and stage (what `stsctl import` sends, a batch of CSV rows at
// a time). Every row is checked before anything is written; a request with a bad row
// writes nothing and names every bad row by its line.
#include <unordered_map>

#include "api_documents.h"
#include "api_handlers.h"

namespace stsd::admin {

using namespace stsd::store;  // the API speaks the store's vocabulary throughout
namespace {

using nlohmann::json;

struct ImportRequest {
  const json* rows = nullptr;
  bool dry_run = false;
  bool confirm = false;
  std::string reason;
};

ImportRequest read_import_request(const json& body) {
  Fields fields(body, {"rows", "dry_run", "confirm", "reason"});
  ImportRequest request;
  request.dry_run = fields.boolean("dry_run", false);
  request.confirm = fields.boolean("confirm", false);
  request.reason = fields.has("reason") ? fields.string("reason") : std::string();
  if (request.confirm && request.reason.find_first_not_of(" \t") == std::string::npos) {
    fields.fail("reason", "is required with \"confirm\": true (it is recorded with every confirmation)");
  }
  if (!body.contains("rows") || !body.at("rows").is_array()) fields.fail("rows", "must be a list of row objects");
  request.rows = &body.at("rows");
  if (request.rows->size() > kMaxImportRows) {
    fields.fail("rows", std::to_string(request.rows->size()) + " rows; send at most " + std::to_string(kMaxImportRows) +
                            " per request");
  }
  return request;
}

// The rows as import items with their lines (the client's "line", else the row's place),
// and every bad row as {"line", "error"}.
struct CheckedRows {
  std::vector<ImportItem> items;
  std::vector<json> lines;
  json errors = json::array();
};

ImportItem import_item(const json& row) {
  Fields fields(row, {"line", "domain", "mode", "mx", "max_age", "tlsrpt_rua"});
  ImportItem item;
  item.domain = normalize_domain(fields.string("domain"));
  item.policy = policy_from_fields(fields);
  if (fields.has("tlsrpt_rua")) {
    DomainSettings settings;
    settings.tlsrpt_rua = fields.strings("tlsrpt_rua");
    check_settings(settings);
    item.settings = std::move(settings);
  }
  return item;
}

CheckedRows check_rows(const json& rows) {
  CheckedRows checked;
  std::unordered_map<std::string, json> first_line_of;
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& row = rows[i];
    const bool numbered = row.is_object() && row.contains("line");
    const json line = numbered ? row.at("line") : json(i + 1);
    const std::string where = numbered ? "line " + line.dump() + ": " : "row " + std::to_string(i + 1) + ": ";
    try {
      ImportItem item = import_item(row);
      auto [it, fresh] = first_line_of.emplace(item.domain, line);
      if (!fresh) {
        bad_request(item.domain + " appears twice in one request (also " + it->second.dump() +
                    "); send it in separate requests");
      }
      checked.items.push_back(std::move(item));
      checked.lines.push_back(line);
    } catch (const HttpError& error) {
      checked.errors.push_back(json{{"line", line}, {"error", where + error.message}});
    } catch (const PolicyError& error) {
      checked.errors.push_back(json{{"line", line}, {"error", where + error.what()}});
    }
  }
  return checked;
}

// A row's tlsrpt_rua replaces the URIs only; the vantages the domain has stay.
void keep_existing_vantages(const PolicyStore& state, int64_t now, std::vector<ImportItem>& items) {
  for (auto& item : items) {
    if (!item.settings || !state.has_domain(item.domain)) continue;
    if (auto current = state.status(item.domain, now)) item.settings->vantages = current->settings.vantages;
  }
}

json results_json(const std::vector<ImportResult>& results, const std::vector<json>& lines) {
  json out = json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    out.push_back(json{{"line", i < lines.size() ? lines[i] : json()},
                       {"domain", r.domain},
                       {"added", r.domain_added},
                       {"version", r.stage.version},
                       {"staged", r.stage.created},
                       {"confirmed", r.confirmed},
                       {"warnings", diagnostics_json(r.stage.warnings)}});
  }
  return out;
}

}  // namespace

ApiResponse handle_import(const Call& call) {
  const ImportRequest request = read_import_request(call.body);
  const json& rows = *request.rows;
  CheckedRows checked = check_rows(rows);
  if (request.dry_run) return {200, json{{"checked", rows.size()}, {"errors", checked.errors}}};
  if (!checked.errors.empty()) {
    throw HttpError{400,
                    std::to_string(checked.errors.size()) + " of " + std::to_string(rows.size()) +
                        " rows are invalid; nothing in this request was applied. First: " +
                        checked.errors[0]["error"].get<std::string>(),
                    json{{"errors", checked.errors}}};
  }
  keep_existing_vantages(call.state, call.now(), checked.items);
  std::vector<ImportResult> results;
  try {
    results = call.state.import(checked.items, request.confirm, request.reason);
  } catch (const PolicyError& error) {
    // The store's own checks (room for the name, ...) refuse the whole batch.
    const auto& lines = checked.lines;
    std::string span =
        lines.empty() ? std::string() : " (rows from line " + lines.front().dump() + " to " + lines.back().dump() + ")";
    bad_request(std::string(error.what()) + span + "; nothing in this request was applied");
  }
  return {200, json{{"results", results_json(results, checked.lines)}}};
}

}  // namespace stsd::admin
