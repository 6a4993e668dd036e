// How `stsctl import` cuts a file into requests: the header line and a run of rows as the
// file has them, each batch's `line` the file's line its rows start on, no domain twice in
// a batch, and at most --batch-size rows; for an stsd that takes JSON rows only, the same
// rows as objects, at most 5000 a request; and both forms' requests and answers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli.h"
#include "import_batches.h"
#include "temp_dir.h"

namespace stsctl {
namespace {

using stsd::csv::CsvReader;
using stsd::csv::CsvRecord;

class ImportBatchesTest : public testing::Test {
 protected:
  std::vector<ImportBatch> batches_of(const std::string& text, size_t max_rows,
                                      ImportForm form = ImportForm::Csv) {
    std::ofstream(path_, std::ios::binary) << text;
    ImportBatches batches(path_.native(), max_rows, form);
    std::vector<ImportBatch> out;
    while (auto batch = batches.next()) out.push_back(std::move(*batch));
    return out;
  }

  stsd::test::TempDir dir_{"stsctl-batches"};
  const std::filesystem::path path_ = dir_.fresh_path("file.csv");
};

// The (line, domain) pairs a server reads from a batch: the same parser, numbered from `line`.
std::vector<std::pair<uint64_t, std::string>> rows_read_by_the_server(const ImportBatch& batch) {
  CsvReader reader{std::string_view(batch.body)};
  CsvRecord record;
  EXPECT_TRUE(reader.next(record));
  reader.set_line(batch.first_line);
  std::vector<std::pair<uint64_t, std::string>> rows;
  while (reader.next(record)) rows.emplace_back(record.line, record.fields.at(0));
  return rows;
}

TEST_F(ImportBatchesTest, SendsTheRowsAsTheFileHasThemNumberedAsInTheFile) {
  const std::string file =
      "\xEF\xBB\xBF" "domain,mode,mx,max_age\r\n"
      "a.example,enforce,\"mx1.a.example\nmx2.a.example\",86400\r\n"
      "\r\n"
      "b.example,testing,mx.example,86400\r\n"
      "c.example,none,,86400\r\n"
      "d.example,none,,86400";  // no line break at the end
  auto batches = batches_of(file, 2);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].rows, 2u);
  EXPECT_EQ(batches[0].first_line, 2u);
  EXPECT_EQ(batches[0].first_row_line, 2u);
  EXPECT_EQ(batches[0].last_row_line, 5u);
  using Rows = std::vector<std::pair<uint64_t, std::string>>;
  EXPECT_EQ(rows_read_by_the_server(batches[0]), (Rows{{2, "a.example"}, {5, "b.example"}}));
  EXPECT_EQ(batches[1].first_line, 6u);
  EXPECT_EQ(rows_read_by_the_server(batches[1]), (Rows{{6, "c.example"}, {7, "d.example"}}));
  EXPECT_EQ(batches[1].body.substr(batches[1].body.size() - 21), "d.example,none,,86400");
  EXPECT_EQ(batches[1].bytes_read, file.size());
}

TEST_F(ImportBatchesTest, ARepeatedDomainStartsTheNextBatch) {
  auto batches = batches_of(
      "domain,mode,mx,max_age\n"
      "a.example,none,,1\nb.example,none,,1\nA.Example.,none,,1\nc.example,none,,1\n",
      100);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].rows, 2u);
  EXPECT_EQ(batches[1].rows, 2u);
  EXPECT_EQ(batches[1].first_row_line, 4u);
}

TEST_F(ImportBatchesTest, RowsThatAreNotImportRowsAreSentForTheServerToName) {
  auto batches = batches_of("domain,mode,mx,max_age\na.example,none,,soon\nb.example\n", 100);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].rows, 2u);
}

TEST_F(ImportBatchesTest, AMalformedRecordOrHeaderStopsReadingWithItsLine) {
  try {
    batches_of("domain,mode,mx,max_age\na.example,none,,1\n\"open,none,,1\n", 100);
    FAIL();
  } catch (const stsd::csv::CsvError& error) {
    EXPECT_EQ(error.line(), 3u);
  }
  EXPECT_THROW(batches_of("", 100), stsd::csv::CsvError);
  EXPECT_THROW(batches_of("domain,colour\n", 100), stsd::csv::CsvError);
  EXPECT_THROW(ImportBatches("/nonexistent/file.csv", 100), UsageError);
}

TEST_F(ImportBatchesTest, AFileOfTheHeaderAloneHasNoBatches) {
  EXPECT_TRUE(batches_of("domain,mode,mx,max_age\n", 100).empty());
  EXPECT_TRUE(batches_of("domain,mode,mx,max_age", 100).empty());
}

TEST_F(ImportBatchesTest, TheJsonFormSendsTheRowsReadAsObjectsWithTheirLines) {
  const std::string file =
      "domain,mode,mx,max_age,tlsrpt_rua\r\n"
      "a.example,enforce,\"mx1.a.example\nmx2.a.example\",86400,\"mailto:a@x.example, mailto:b@x.example\"\r\n"
      "\r\n"
      "b.example,none,,86400,\r\n"
      "c.example,none,,soon,\r\n"
      "d.example\r\n"
      "e.example,testing,mx.e.example,604800,\r\n";
  auto batches = batches_of(file, 100, ImportForm::JsonRows);
  ASSERT_EQ(batches.size(), 1u);
  const ImportBatch& batch = batches[0];
  EXPECT_EQ(batch.form, ImportForm::JsonRows);
  EXPECT_TRUE(batch.body.empty());
  EXPECT_EQ(batch.rows, 5u);
  EXPECT_EQ(batch.first_row_line, 2u);
  EXPECT_EQ(batch.last_row_line, 8u);
  EXPECT_EQ(batch.row_objects, nlohmann::json::parse(R"([
    {"line": 2, "domain": "a.example", "mode": "enforce", "mx": ["mx1.a.example", "mx2.a.example"],
     "max_age": 86400, "tlsrpt_rua": ["mailto:a@x.example", "mailto:b@x.example"]},
    {"line": 5, "domain": "b.example", "mode": "none", "mx": [], "max_age": 86400, "tlsrpt_rua": []},
    {"line": 8, "domain": "e.example", "mode": "testing", "mx": ["mx.e.example"], "max_age": 604800,
     "tlsrpt_rua": []}])"));
  using Errors = std::vector<std::pair<uint64_t, std::string>>;
  EXPECT_EQ(batch.unreadable,
            (Errors{{6, "line 6: column max_age: 'soon' is not a whole number of seconds"},
                    {7, "line 7: 1 fields, but the header has 5 (quote a field that contains a comma)"}}));
  // Without the tlsrpt_rua column the rows leave the domains' settings alone.
  auto without = batches_of("domain,mode,mx,max_age\na.example,none,,1\n", 100, ImportForm::JsonRows);
  ASSERT_EQ(without.size(), 1u);
  EXPECT_FALSE(without[0].row_objects.at(0).contains("tlsrpt_rua"));
}

TEST_F(ImportBatchesTest, TheJsonFormCutsRequestsOfAtMost5000RowsWhateverTheBatchSize) {
  std::string file = "domain,mode,mx,max_age\n";
  for (int i = 0; i < 12000; ++i) file.append("d").append(std::to_string(i)).append(".example,none,,86400\n");
  auto batches = batches_of(file, kDefaultImportBatchRows, ImportForm::JsonRows);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].rows, 5000u);
  EXPECT_EQ(batches[1].rows, 5000u);
  EXPECT_EQ(batches[2].rows, 2000u);
  EXPECT_EQ(batches[1].row_objects.front()["line"], 5002);
  EXPECT_EQ(batches[2].row_objects.back()["line"], 12001);
  EXPECT_EQ(batches_of(file, 3000, ImportForm::JsonRows).size(), 4u);
  EXPECT_EQ(rows_per_request(ImportForm::JsonRows, 20000), 5000u);
  EXPECT_EQ(rows_per_request(ImportForm::JsonRows, 300), 300u);
  EXPECT_EQ(rows_per_request(ImportForm::Csv, 20000), 20000u);
}

TEST(ImportRequest, CarriesThePassAndTheOptionsInEachFormsPlace) {
  ImportOptions options;
  options.confirm_now = true;
  options.reason = "moved from X";
  ImportBatch csv;
  csv.body = "domain,mode,mx,max_age\na.example,none,,1\n";
  csv.first_line = 7;
  ImportRequest request = import_request(csv, options, true);
  EXPECT_EQ(request.target, "/v1/import?line=7&dry_run=true&confirm=true&reason=moved%20from%20X");
  EXPECT_EQ(request.media_type, "text/csv");
  EXPECT_EQ(request.body, csv.body);

  ImportBatch rows;
  rows.form = ImportForm::JsonRows;
  rows.row_objects = nlohmann::json::array({{{"line", 7}, {"domain", "a.example"}}});
  request = import_request(rows, options, false);
  EXPECT_EQ(request.target, "/v1/import");
  EXPECT_EQ(request.media_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(request.body),
            (nlohmann::json{{"rows", rows.row_objects}, {"confirm", true}, {"reason", "moved from X"}}));
  options.confirm_now = false;
  EXPECT_EQ(nlohmann::json::parse(import_request(rows, options, true).body),
            (nlohmann::json{{"rows", rows.row_objects}, {"dry_run", true}}));
}

TEST(AddApplied, ReadsBothFormsAnswers) {
  ImportTotals totals;
  std::vector<std::string> warnings;
  add_applied(nlohmann::json::parse(R"({"rows": 3, "added": 2, "staged": 2, "unchanged": 1, "confirmed": 2,
      "warning_count": 2, "warnings": [{"line": 4, "domain": "b.example", "message": "m1"},
                                       {"line": 5, "domain": "c.example", "message": "m2"}]})"),
              totals, warnings, 1);
  add_applied(nlohmann::json::parse(R"({"results": [
      {"line": 6, "domain": "d.example", "added": true, "version": 1, "staged": true, "confirmed": false,
       "warnings": [{"message": "m3"}]},
      {"line": 7, "domain": "e.example", "added": false, "version": 2, "staged": false, "confirmed": false,
       "warnings": []}]})"),
              totals, warnings, 2);
  EXPECT_EQ(totals.rows, 5u);
  EXPECT_EQ(totals.added, 3u);
  EXPECT_EQ(totals.staged, 3u);
  EXPECT_EQ(totals.unchanged, 2u);
  EXPECT_EQ(totals.confirmed, 2u);
  EXPECT_EQ(totals.warnings, 3u);
  EXPECT_EQ(warnings, (std::vector<std::string>{"line 4 (b.example): m1", "line 6 (d.example): m3"}));
}

}  // namespace
}  // namespace stsctl
