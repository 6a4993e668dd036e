// POST /v1/import: bulk add and stage. Two forms of one request:
//   - Content-Type: text/csv (what `stsctl import` sends): the import file's header line and
//     a run of its rows, read by the import file's own parser (src/csv/import_csv.h); the
//     options are query parameters (dry_run, confirm, reason, line = the file's line of the
//     body's first row). The answer is compact: counts and a bounded list of problems.
//   - Content-Type: application/json: {"rows": [row objects], "dry_run", "confirm",
//     "reason"}; the answer has one result object per row.
// Every row is checked before anything is written; a request with a bad row writes
// nothing and names every bad row by its line.
#include <algorithm>
#include <iterator>
#include <optional>

#include "api_documents.h"
#include "api_handlers.h"
#include "csv/import_csv.h"
#include "parallel.h"

namespace stsd::admin {

using namespace stsd::store;  // the API speaks the store's vocabulary throughout
namespace {

using nlohmann::json;

struct ImportOptions {
  bool dry_run = false;
  bool confirm = false;
  std::string reason;
};

bool lacks_reason(const ImportOptions& options) {
  return options.confirm && options.reason.find_first_not_of(" \t") == std::string::npos;
}

// The rows of a request read as import items. A row that cannot be read (a missing or
// mistyped field, a malformed domain or policy) is a bad row here; the store checks the
// items read (validate_import, shared by the dry run and the import).
struct ReadRows {
  size_t rows = 0;
  std::vector<json> line_of_row;  // the row's line (the client's "line", else its place)
  std::vector<ImportItem> items;
  std::vector<size_t> row_of;                          // the item's row
  std::vector<std::pair<size_t, std::string>> errors;  // (row, "line 7: ...")

  template <class ReadItem>
  void add(json line, const std::string& place, ReadItem read_item) {
    const size_t row = rows++;
    line_of_row.push_back(std::move(line));
    try {
      items.push_back(read_item());
      row_of.push_back(row);
    } catch (const csv::CsvError& error) {  // names its line already
      errors.emplace_back(row, error.what());
    } catch (const HttpError& error) {
      errors.emplace_back(row, place + ": " + error.message);
    } catch (const PolicyError& error) {
      errors.emplace_back(row, place + ": " + error.what());
    }
  }
};

// --- the JSON form ---------------------------------------------------------------------

const json& json_rows(const json& body, ImportOptions& options) {
  Fields fields(body, {"rows", "dry_run", "confirm", "reason"});
  options.dry_run = fields.boolean("dry_run", false);
  options.confirm = fields.boolean("confirm", false);
  options.reason = fields.has("reason") ? fields.string("reason") : std::string();
  if (lacks_reason(options)) {
    fields.fail("reason", "is required with \"confirm\": true (it is recorded with every confirmation)");
  }
  if (!body.contains("rows") || !body.at("rows").is_array()) fields.fail("rows", "must be a list of row objects");
  const json& rows = body.at("rows");
  if (rows.size() > kMaxImportRows) {
    fields.fail("rows", std::to_string(rows.size()) + " rows; send at most " + std::to_string(kMaxImportRows) +
                            " per request (or send CSV: up to " + std::to_string(csv::kMaxRowsPerImportRequest) +
                            ")");
  }
  return rows;
}

ImportItem import_item(const json& row, std::string place) {
  Fields fields(row, {"line", "domain", "mode", "mx", "max_age", "tlsrpt_rua"});
  ImportItem item;
  item.domain = normalize_domain(fields.string("domain"));
  item.policy = policy_from_fields(fields);
  if (fields.has("tlsrpt_rua")) item.settings = DomainSettings{fields.strings("tlsrpt_rua"), {}};
  item.place = std::move(place);
  return item;
}

ReadRows read_json_rows(const json& rows) {
  ReadRows read;
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& row = rows[i];
    const bool numbered = row.is_object() && row.contains("line");
    json line = numbered ? row.at("line") : json(i + 1);
    std::string place = numbered ? "line " + line.dump() : "row " + std::to_string(i + 1);
    read.add(std::move(line), place, [&] { return import_item(row, place); });
  }
  return read;
}

// --- the CSV form ----------------------------------------------------------------------

ImportOptions csv_options(const Target& target) {
  ImportOptions options;
  options.dry_run = target.query_flag("dry_run");
  options.confirm = target.query_flag("confirm");
  options.reason = target.query_text("reason");
  if (lacks_reason(options)) {
    bad_request("query parameter 'reason' is required with confirm=true (it is recorded with every confirmation)");
  }
  return options;
}

ImportItem import_item(const csv::ImportRow& row, std::string place) {
  ImportItem item;
  item.domain = normalize_domain(row.domain);
  item.policy = policy_from_parts(row.mode, row.mx, row.max_age, PolicyParts::CsvColumns);
  if (row.tlsrpt_rua) item.settings = DomainSettings{*row.tlsrpt_rua, {}};
  item.place = std::move(place);
  return item;
}

// The rows of `text` (whole lines of a body after its header), numbered from `first_line`,
// read up to its end or up to its first malformed record, which stops reading.
struct RowsRead {
  ReadRows read;
  std::optional<csv::CsvError> malformed;
};

RowsRead read_rows(std::string_view text, const csv::ImportHeader& header, uint64_t first_line) {
  RowsRead out;
  csv::CsvReader reader{text};
  reader.set_line(first_line);
  csv::CsvRecord record;
  try {
    while (reader.next(record)) {
      if (out.read.rows == csv::kMaxRowsPerImportRequest) {
        bad_request("more than " + std::to_string(csv::kMaxRowsPerImportRequest) +
                    " rows; send at most that many per request");
      }
      const std::string place = "line " + std::to_string(record.line);
      out.read.add(json(record.line), place, [&] { return import_item(csv::parse_import_row(header, record), place); });
    }
  } catch (const csv::CsvError& error) {
    out.malformed = error;
  }
  return out;
}

// Where `rows` can be cut in two runs of whole records that read as they would in one
// (0: it cannot, or is too small to be worth a thread): at a line end near the middle,
// when no field is quoted (a quoted field may hold a line end), neither run starts with
// what would read as a byte order mark, and no run can hold more rows than a request may.
size_t rows_cut(std::string_view rows) {
  constexpr size_t kSmallestCut = 256 << 10;  // ~3,000 rows
  if (rows.size() < kSmallestCut || rows.find('"') != std::string_view::npos) return 0;
  if (static_cast<size_t>(std::count(rows.begin(), rows.end(), '\n')) >= csv::kMaxRowsPerImportRequest) return 0;
  const size_t line_end = rows.find('\n', rows.size() / 2);
  if (line_end == std::string_view::npos || line_end + 1 == rows.size()) return 0;
  const auto starts_like_a_mark = [](std::string_view run) { return static_cast<unsigned char>(run[0]) == 0xEF; };
  if (starts_like_a_mark(rows) || starts_like_a_mark(rows.substr(line_end + 1))) return 0;
  return line_end + 1;
}

// The second run's rows after the first's.
void append_rows(ReadRows& read, ReadRows&& more) {
  const size_t offset = read.rows;
  read.rows += more.rows;
  std::move(more.line_of_row.begin(), more.line_of_row.end(), std::back_inserter(read.line_of_row));
  std::move(more.items.begin(), more.items.end(), std::back_inserter(read.items));
  for (const size_t row : more.row_of) read.row_of.push_back(offset + row);
  for (auto& [row, error] : more.errors) read.errors.emplace_back(offset + row, std::move(error));
}

// The body: the header line, then rows numbered from the query parameter `line` (default
// 2, the first row of a file). A malformed record stops reading: the request is refused.
// A large body's rows are read in two runs at once (src/parallel.h), with the same result.
ReadRows read_csv_rows(const std::string& body, uint64_t first_line) {
  csv::CsvReader reader{std::string_view(body)};
  csv::CsvRecord record;
  std::optional<csv::CsvError> malformed;
  ReadRows read;
  try {
    if (!reader.next(record)) {
      bad_request("the body is empty; send the header line " + std::string(csv::kImportHeaderShape) + ", then rows");
    }
    const auto header = csv::ImportHeader::parse(record);
    const std::string_view rows = std::string_view(body).substr(reader.bytes_read());
    RowsRead runs[2];
    if (const size_t cut = rows_cut(rows); cut == 0) {
      runs[0] = read_rows(rows, header, first_line);
    } else {
      const std::string_view texts[2] = {rows.substr(0, cut), rows.substr(cut)};
      const uint64_t lines[2] = {first_line, first_line + static_cast<uint64_t>(std::count(
                                                              texts[0].begin(), texts[0].end(), '\n'))};
      in_two_halves(2, 2, [&](size_t begin, size_t end) {
        for (size_t run = begin; run < end; ++run) runs[run] = read_rows(texts[run], header, lines[run]);
      });
    }
    read = std::move(runs[0].read);
    malformed = std::move(runs[0].malformed);
    if (!malformed) {  // the second run (empty when there is one) follows the first
      append_rows(read, std::move(runs[1].read));
      malformed = std::move(runs[1].malformed);
    }
  } catch (const csv::CsvError& error) {
    malformed = error;
  }
  if (malformed) {
    bad_request(std::string(malformed->what()) + " (reading stopped here; nothing in this request was applied)",
                json{{"errors", json::array({json{{"line", malformed->line()}, {"error", malformed->what()}}})}});
  }
  return read;
}

// --- both forms ------------------------------------------------------------------------

// Every bad row, in the rows' order: those that could not be read and those the store refuses.
std::vector<std::pair<size_t, std::string>> row_errors(const ReadRows& read,
                                                       const std::vector<ImportRefusal>& refusals) {
  std::vector<std::pair<size_t, std::string>> errors = read.errors;
  for (const auto& refusal : refusals) errors.emplace_back(read.row_of.at(refusal.item), refusal.message);
  std::stable_sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return errors;
}

// The first `limit` bad rows as {"line", "error"}.
json errors_json(const ReadRows& read, const std::vector<std::pair<size_t, std::string>>& errors, size_t limit) {
  json out = json::array();
  for (size_t i = 0; i < errors.size() && i < limit; ++i) {
    out.push_back(json{{"line", read.line_of_row[errors[i].first]}, {"error", errors[i].second}});
  }
  return out;
}

// A row's tlsrpt_rua replaces the URIs only; the vantages the domain has stay.
void keep_existing_vantages(const PolicyStore& state, int64_t now, std::vector<ImportItem>& items) {
  for (auto& item : items) {
    if (!item.settings || !state.has_domain(item.domain)) continue;
    if (auto current = state.status(item.domain, now)) item.settings->vantages = current->settings.vantages;
  }
}

json results_json(const std::vector<ImportResult>& results, const ReadRows& read) {
  json out = json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    out.push_back(json{{"line", read.line_of_row[read.row_of[i]]},
                       {"domain", r.domain},
                       {"added", r.domain_added},
                       {"version", r.stage.version},
                       {"staged", r.stage.created},
                       {"confirmed", r.confirmed},
                       {"warnings", diagnostics_json(r.stage.warnings)}});
  }
  return out;
}

// The CSV form's answer: counts, and the first kMaxListedImportProblems warnings by line.
json summary_json(const std::vector<ImportResult>& results, const ReadRows& read) {
  uint64_t added = 0, staged = 0, confirmed = 0, warning_count = 0;
  json warnings = json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    added += r.domain_added ? 1 : 0;
    staged += r.stage.created ? 1 : 0;
    confirmed += r.confirmed ? 1 : 0;
    for (const auto& w : r.stage.warnings) {
      if (warning_count++ < kMaxListedImportProblems)
        warnings.push_back(json{{"line", read.line_of_row[read.row_of[i]]}, {"domain", r.domain}, {"message", w.message}});
    }
  }
  return json{{"rows", results.size()},
              {"first_line", read.line_of_row.empty() ? json() : read.line_of_row.front()},
              {"last_line", read.line_of_row.empty() ? json() : read.line_of_row.back()},
              {"added", added},
              {"staged", staged},
              {"unchanged", results.size() - staged},
              {"confirmed", confirmed},
              {"warning_count", warning_count},
              {"warnings", warnings}};
}

enum class Form { JsonRows, Csv };

[[noreturn]] void refuse_request(const ReadRows& read, const std::vector<std::pair<size_t, std::string>>& errors,
                                 Form form) {
  json extra{{"errors", errors_json(read, errors, form == Form::Csv ? kMaxListedImportProblems : errors.size())}};
  if (form == Form::Csv) extra["error_count"] = errors.size();
  throw HttpError{400,
                  std::to_string(errors.size()) + " of " + std::to_string(read.rows) +
                      " rows are invalid; nothing in this request was applied. First: " + errors.front().second,
                  std::move(extra)};
}

// A request is applied whole or not at all (PolicyStore::import: one write). The dry run
// runs the store's checks of the import without writing, so a row that passes it passes
// the import as long as the store does not change in between.
ApiResponse run_import(const Call& call, ReadRows read, const ImportOptions& options, Form form) {
  keep_existing_vantages(call.state, call.now(), read.items);
  if (options.dry_run || !read.errors.empty()) {
    const auto errors = row_errors(read, call.state.check_import(read.items, options.confirm, options.reason));
    if (!options.dry_run) refuse_request(read, errors, form);
    json answer{{"checked", read.rows}};
    answer["errors"] = errors_json(read, errors, form == Form::Csv ? kMaxListedImportProblems : errors.size());
    if (form == Form::Csv) answer["error_count"] = errors.size();
    return {200, answer};
  }
  try {
    const auto results = call.state.import(read.items, options.confirm, options.reason);
    if (form == Form::Csv) return {200, summary_json(results, read)};
    return {200, json{{"results", results_json(results, read)}}};
  } catch (const ImportRefused& refused) {
    refuse_request(read, row_errors(read, refused.refusals()), form);
  }
}

}  // namespace

ApiResponse handle_import(const Call& call) {
  if (call.request.media_type == kCsvMediaType) {
    const ImportOptions options = csv_options(call.target);
    const uint64_t first_line = call.target.query_number("line", 2, 2, UINT64_MAX / 2);
    return run_import(call, read_csv_rows(call.request.body, first_line), options, Form::Csv);
  }
  ImportOptions options;
  const json& rows = json_rows(call.body, options);
  return run_import(call, read_json_rows(rows), options, Form::JsonRows);
}

}  // namespace stsd::admin
