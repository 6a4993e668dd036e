#pragma once
// `stsctl import` cuts the file into requests of POST /v1/import, in one of the two forms
// the server takes (plugins/admin/README.md, "Import requests"):
//   - text/csv: the file's header line and a run of its rows exactly as the file has them,
//     so the server reads them with the same parser (src/csv/import_csv.h) and numbers
//     their lines as the file does;
//   - JSON rows: the rows read here, one object each with its line. An stsd from before
//     the CSV body takes only this form (it answers 415 to text/csv), and at most
//     stsd::csv::kMaxJsonRowsPerImportRequest rows a request.
// One record of the file is held at a time, plus one batch. The answers differ by form
// too (add_applied).
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "csv/import_csv.h"

namespace stsctl {

enum class ImportForm { Csv, JsonRows };

struct ImportBatch {
  ImportForm form = ImportForm::Csv;
  std::string body;     // Csv: the header line, then the rows' text
  nlohmann::json row_objects;  // JsonRows: "line", "domain", "mode", "mx", "max_age"[, "tlsrpt_rua"]
  // JsonRows: the rows that do not read as import rows, by line, with the parser's message
  // (the one the server gives for them in a CSV body, where they are sent as they are).
  std::vector<std::pair<uint64_t, std::string>> unreadable;
  uint64_t first_line = 0;  // the file's line the rows' text starts on (the query's `line`)
  uint64_t first_row_line = 0;
  uint64_t last_row_line = 0;
  uint64_t rows = 0;        // every row of the batch, the unreadable ones included
  uint64_t bytes_read = 0;  // of the file, through this batch
};

// The rows a request of `form` carries when --batch-size asks for `batch_size`.
size_t rows_per_request(ImportForm form, size_t batch_size);

class ImportBatches {
 public:
  // At most rows_per_request(form, batch_size) rows and stsd::csv::kMaxImportRequestBytes
  // bytes a batch, and no domain twice in one (the server refuses a repeated domain within
  // a request; across requests the later row wins). Throws UsageError when the file cannot
  // be opened and stsd::csv::CsvError when its header is missing or bad.
  ImportBatches(const std::string& file, size_t batch_size, ImportForm form = ImportForm::Csv);

  // The next batch; nullopt at the end of the file. Throws CsvError for a malformed
  // record (reading stops there). A row that is well-formed CSV but not a valid import
  // row is sent as it is in a CSV body (the server names it with the parser's own
  // message) and listed in `unreadable` with that message in the JSON form.
  std::optional<ImportBatch> next();

 private:
  std::ifstream in_;
  stsd::csv::CsvReader reader_;
  stsd::csv::ImportHeader header_;
  std::string header_text_;
  ImportForm form_;
  size_t max_rows_;
  stsd::csv::CsvRecord record_;
  bool holding_ = false;  // record_ is read and starts the next batch
};

// One POST /v1/import: the options of `stsctl import` (--confirm-now, --reason) and of
// the pass (the first is a dry run) as query parameters of a CSV body, or as the JSON
// body's members.
struct ImportRequest {
  std::string target;
  std::string body;
  std::string media_type;
};
ImportRequest import_request(const ImportBatch& batch, const ImportOptions& options, bool dry_run);

// What the applied requests did, from their answers.
struct ImportTotals {
  uint64_t rows = 0;
  uint64_t added = 0;
  uint64_t staged = 0;
  uint64_t unchanged = 0;
  uint64_t confirmed = 0;
  uint64_t warnings = 0;
};

// Adds an applied request's answer, in either form's shape (counts and the first warnings
// for a CSV body, a result per row for JSON rows); keeps the first `kept_warnings`
// warnings as "line N (domain): message".
void add_applied(const nlohmann::json& answer, ImportTotals& totals, std::vector<std::string>& warnings,
                 size_t kept_warnings);

}  // namespace stsctl
