#include "import_batches.h"

#include <unordered_set>

#include "cli.h"

namespace stsctl {

using stsd::csv::CsvError;

ImportBatches::ImportBatches(const std::string& file, size_t max_rows)
    : in_(file, std::ios::binary), reader_(in_), max_rows_(max_rows) {
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
  batch.body = header_text_;
  batch.first_line = record_.raw_line;
  batch.first_row_line = record_.line;
  std::unordered_set<std::string> domains;
  do {
    std::optional<std::string> key;
    try {
      key = stsd::csv::import_domain_key(stsd::csv::parse_import_row(header_, record_).domain);
    } catch (const CsvError&) {
      // Not an import row: the server refuses it by its line, with this same message.
    }
    const bool full = batch.rows == max_rows_ ||
                      batch.body.size() + record_.raw.size() > stsd::csv::kMaxImportRequestBytes ||
                      (key && domains.count(*key) != 0);
    if (full) {
      holding_ = true;
      break;
    }
    if (key) domains.insert(std::move(*key));
    batch.body += record_.raw;
    batch.last_row_line = record_.line;
    ++batch.rows;
  } while (reader_.next(record_));
  batch.bytes_read = reader_.bytes_read();
  return batch;
}

}  // namespace stsctl
