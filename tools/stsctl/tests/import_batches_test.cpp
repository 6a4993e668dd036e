// How `stsctl import` cuts a file into requests: the header line and a run of rows as the
// file has them, each batch's `line` the file's line its rows start on, no domain twice in
// a batch, and at most --batch-size rows.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli.h"
#include "import_batches.h"

namespace stsctl {
namespace {

using stsd::csv::CsvReader;
using stsd::csv::CsvRecord;

class ImportBatchesTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("stsctl-batches-" + std::to_string(::getpid()) + ".csv");
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::vector<ImportBatch> batches_of(const std::string& text, size_t max_rows) {
    std::ofstream(path_, std::ios::binary) << text;
    ImportBatches batches(path_.native(), max_rows);
    std::vector<ImportBatch> out;
    while (auto batch = batches.next()) out.push_back(std::move(*batch));
    return out;
  }

  std::filesystem::path path_;
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

}  // namespace
}  // namespace stsctl
