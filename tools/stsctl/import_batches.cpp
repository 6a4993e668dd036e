#include "import_batches.h"

#include <algorithm>
#include <functional>
#include <unordered_set>

#include "status_text.h"

namespace stsctl {

using nlohmann::json;
using stsd::csv::CsvError;

namespace {

// The row object of the JSON form (plugins/admin/README.md, POST /v1/import).
json row_json(const stsd::csv::ImportRow& row) {
  json out = {{"line", row.line}, {"domain", row.domain}, {"mode", row.mode}, {"mx", row.mx}, {"max_age", row.max_age}};
  if (row.tlsrpt_rua) out["tlsrpt_rua"] = *row.tlsrpt_rua;
  return out;
}

}  // namespace

size_t rows_per_request(ImportForm form, size_t batch_size) {
  return form == ImportForm::JsonRows ? std::min(batch_size, stsd::csv::kMaxJsonRowsPerImportRequest) : batch_size;
}

ImportBatches::ImportBatches(const std::string& file, size_t batch_size, ImportForm form)
    : in_(file, std::ios::binary), reader_(in_), form_(form), max_rows_(rows_per_request(form, batch_size)) {
  if (!in_) throw UsageError("import: cannot open '" + file + "'", "import");
  reader_.keep_raw();
  if (!reader_.next(record_)) {
    throw CsvError(1, "the file is empty; the first line must be the header " +
                          std::string(stsd::csv::kImportHeaderShape));
  }
  header_ = stsd::csv::ImportHeader::parse(record_);
  header_text_ = record_.raw;
}

std::optional<ImportBatch> ImportBatches::next() {
  if (!holding_ && !reader_.next(record_)) return std::nullopt;
  holding_ = false;
  ImportBatch batch;
  batch.form = form_;
  if (form_ == ImportForm::Csv) batch.body = header_text_;
  batch.row_objects = json::array();
  batch.first_line = record_.raw_line;
  batch.first_row_line = record_.line;
  size_t bytes = batch.body.size();
  // The batch's domains, by the hash of their key: a repeated one starts the next batch (a
  // request holds a domain once). Two keys of one hash only end a batch early.
  std::unordered_set<uint64_t> domains;
  do {
    std::optional<stsd::csv::ImportRow> row;
    std::optional<uint64_t> key;
    std::string unreadable;
    if (form_ == ImportForm::Csv) {
      // The server reads the row itself: only its domain is needed here.
      if (auto domain = stsd::csv::import_row_domain(header_, record_))
        key = std::hash<std::string>{}(stsd::csv::import_domain_key(*domain));
    } else {
      try {
        row = stsd::csv::parse_import_row(header_, record_);
        key = std::hash<std::string>{}(stsd::csv::import_domain_key(row->domain));
      } catch (const CsvError& error) {
        unreadable = error.what();  // the server refuses it by its line, with this same message
      }
    }
    json row_object;
    if (form_ == ImportForm::JsonRows && row) row_object = row_json(*row);
    // Both forms are bounded by the same body size: the row's text, or its object and a comma.
    const size_t row_bytes = form_ == ImportForm::Csv ? record_.raw.size() : row_object.dump().size() + 1;
    const bool full = batch.rows == max_rows_ || bytes + row_bytes > stsd::csv::kMaxImportRequestBytes ||
                      (key && domains.count(*key) != 0);
    if (full) {
      holding_ = true;
      break;
    }
    if (key) domains.insert(*key);
    bytes += row_bytes;
    if (form_ == ImportForm::Csv) {
      batch.body += record_.raw;
    } else if (row) {
      batch.row_objects.push_back(std::move(row_object));
    } else {
      batch.unreadable.emplace_back(record_.line, std::move(unreadable));
    }
    batch.last_row_line = record_.line;
    ++batch.rows;
  } while (reader_.next(record_));
  batch.bytes_read = reader_.bytes_read();
  return batch;
}

ImportRequest import_request(const ImportBatch& batch, const ImportOptions& options, bool dry_run) {
  if (batch.form == ImportForm::Csv) {
    std::string target = "/v1/import?line=" + std::to_string(batch.first_line);
    if (dry_run) target += "&dry_run=true";
    if (options.confirm_now) target += "&confirm=true&reason=" + percent_encode(options.reason);
    return {std::move(target), batch.body, "text/csv"};
  }
  json body = {{"rows", batch.row_objects}};
  if (dry_run) body["dry_run"] = true;
  if (options.confirm_now) {
    body["confirm"] = true;
    body["reason"] = options.reason;
  }
  return {"/v1/import", body.dump(), "application/json"};
}

void add_applied(const json& answer, ImportTotals& totals, std::vector<std::string>& warnings,
                 size_t kept_warnings) {
  auto keep = [&](const json& line, const json& domain, const json& message) {
    if (warnings.size() < kept_warnings)
      warnings.push_back("line " + text_of(line) + " (" + text_of(domain) + "): " + text_of(message));
  };
  if (answer.contains("results")) {
    for (const auto& result : answer["results"]) {
      const bool staged = result.value("staged", false);
      ++totals.rows;
      totals.added += result.value("added", false) ? 1 : 0;
      totals.staged += staged ? 1 : 0;
      totals.unchanged += staged ? 0 : 1;
      totals.confirmed += result.value("confirmed", false) ? 1 : 0;
      for (const auto& warning : result["warnings"]) {
        ++totals.warnings;
        keep(result["line"], result["domain"], warning["message"]);
      }
    }
    return;
  }
  totals.rows += answer.value("rows", uint64_t{0});
  totals.added += answer.value("added", uint64_t{0});
  totals.staged += answer.value("staged", uint64_t{0});
  totals.unchanged += answer.value("unchanged", uint64_t{0});
  totals.confirmed += answer.value("confirmed", uint64_t{0});
  totals.warnings += answer.value("warning_count", uint64_t{0});
  for (const auto& warning : answer["warnings"]) keep(warning["line"], warning["domain"], warning["message"]);
}

}  // namespace stsctl
