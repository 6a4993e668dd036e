// POST /v1/import: bulk add and stage (what `stsctl import` sends, a batch of CSV rows at
// a time). Every row is checked before anything is written; a request with a bad row
// writes nothing and names every bad row by its line.
#include <algorithm>

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

// The rows read as import items. A row that cannot be read (a missing or mistyped field,
// a malformed domain or policy) is a bad row here; the store checks the items read
// (validate_import, shared by the dry run and the import).
struct ReadRows {
  std::vector<ImportItem> items;
  std::vector<size_t> row_of;  // the item's row
  std::vector<json> lines;     // the item's line (the client's "line", else the row's place)
  std::vector<std::pair<size_t, std::string>> errors;  // (row, "line 7: ...")
};

ImportItem import_item(const json& row, std::string place) {
  Fields fields(row, {"line", "domain", "mode", "mx", "max_age", "tlsrpt_rua"});
  ImportItem item;
  item.domain = normalize_domain(fields.string("domain"));
  item.policy = policy_from_fields(fields);
  if (fields.has("tlsrpt_rua")) item.settings = DomainSettings{fields.strings("tlsrpt_rua"), {}};
  item.place = std::move(place);
  return item;
}

// The row's line as the client numbered it, else its place in the request (from 1).
json line_of(const json& rows, size_t row) {
  const json& r = rows[row];
  return r.is_object() && r.contains("line") ? r.at("line") : json(row + 1);
}

ReadRows read_rows(const json& rows) {
  ReadRows read;
  for (size_t i = 0; i < rows.size(); ++i) {
    const json line = line_of(rows, i);
    std::string place = rows[i].is_object() && rows[i].contains("line") ? "line " + line.dump()
                                                                         : "row " + std::to_string(i + 1);
    try {
      read.items.push_back(import_item(rows[i], place));
      read.row_of.push_back(i);
      read.lines.push_back(line);
    } catch (const HttpError& error) {
      read.errors.emplace_back(i, place + ": " + error.message);
    } catch (const PolicyError& error) {
      read.errors.emplace_back(i, place + ": " + error.what());
    }
  }
  return read;
}

// Every bad row as {"line", "error"}, in the rows' order: those that could not be read
// and those the store refuses.
json errors_json(const json& rows, const ReadRows& read, const std::vector<ImportRefusal>& refusals) {
  std::vector<std::pair<size_t, std::string>> errors = read.errors;
  for (const auto& refusal : refusals) errors.emplace_back(read.row_of.at(refusal.item), refusal.message);
  std::stable_sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  json out = json::array();
  for (const auto& [row, message] : errors) out.push_back(json{{"line", line_of(rows, row)}, {"error", message}});
  return out;
}

[[noreturn]] void refuse_request(const json& rows, const json& errors) {
  throw HttpError{400,
                  std::to_string(errors.size()) + " of " + std::to_string(rows.size()) +
                      " rows are invalid; nothing in this request was applied. First: " +
                      errors[0]["error"].get<std::string>(),
                  json{{"errors", errors}}};
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

// A request is applied whole or not at all (PolicyStore::import: one WriteBatch). The dry
// run runs the store's checks of the import without writing, so a row that passes it
// passes the import as long as the store does not change in between.
ApiResponse handle_import(const Call& call) {
  const ImportRequest request = read_import_request(call.body);
  const json& rows = *request.rows;
  ReadRows read = read_rows(rows);
  keep_existing_vantages(call.state, call.now(), read.items);
  if (request.dry_run || !read.errors.empty()) {
    const json errors =
        errors_json(rows, read, call.state.check_import(read.items, request.confirm, request.reason));
    if (request.dry_run) return {200, json{{"checked", rows.size()}, {"errors", errors}}};
    refuse_request(rows, errors);
  }
  try {
    const auto results = call.state.import(read.items, request.confirm, request.reason);
    return {200, json{{"results", results_json(results, read.lines)}}};
  } catch (const ImportRefused& refused) {
    refuse_request(rows, errors_json(rows, read, refused.refusals()));
  }
}

}  // namespace stsd::admin
