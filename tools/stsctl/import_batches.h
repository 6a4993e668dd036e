#pragma once
// `stsctl import` cuts the file into requests of POST /v1/import (Content-Type: text/csv):
// each is the file's header line and a run of its rows exactly as the file has them, so
// the server reads them with the same parser (src/csv/import_csv.h) and numbers their
// lines as the file does. One record of the file is held at a time, plus one batch.
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

#include "csv/import_csv.h"

namespace stsctl {

struct ImportBatch {
  std::string body;         // the header line, then the rows' text
  uint64_t first_line = 0;  // the file's line the rows' text starts on (the query's `line`)
  uint64_t first_row_line = 0;
  uint64_t last_row_line = 0;
  uint64_t rows = 0;
  uint64_t bytes_read = 0;  // of the file, through this batch
};

class ImportBatches {
 public:
  // At most `max_rows` rows and stsd::csv::kMaxImportRequestBytes bytes a batch, and no
  // domain twice in one (the server refuses a repeated domain within a request; across
  // requests the later row wins). Throws UsageError when the file cannot be opened and
  // stsd::csv::CsvError when its header is missing or bad.
  ImportBatches(const std::string& file, size_t max_rows);

  // The next batch; nullopt at the end of the file. Throws CsvError for a malformed
  // record (reading stops there). A row that is well-formed CSV but not a valid import
  // row is sent as it is: the server names it with the parser's own message.
  std::optional<ImportBatch> next();

 private:
  std::ifstream in_;
  stsd::csv::CsvReader reader_;
  stsd::csv::ImportHeader header_;
  std::string header_text_;
  size_t max_rows_;
  stsd::csv::CsvRecord record_;
  bool holding_ = false;  // record_ is read and starts the next batch
};

}  // namespace stsctl
