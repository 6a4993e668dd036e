// POST /v1/import with a CSV body (what `stsctl import` sends): rows read by the import
// file's parser and numbered from the query's `line`, the compact answer, and the promise
// stsctl's two passes rest on: for any request, the dry run accepts it exactly when the
// import does, and both name the same lines.
#include <algorithm>
#include <random>
#include <set>

#include "api_fixture.h"

namespace stsd::admin {
namespace {

using nlohmann::json;

std::set<uint64_t> lines_of(const json& errors) {
  std::set<uint64_t> lines;
  for (const auto& e : errors) lines.insert(e["line"].get<uint64_t>());
  return lines;
}

TEST_F(Api, CsvImportNumbersRowsFromTheQueryLineAndAnswersWithCounts) {
  const std::string body =
      "domain,mode,mx,max_age,tlsrpt_rua\r\n"
      "a.example,enforce,\"mx1.a.example\nmx2.a.example\",604800,mailto:t@a.example\r\n"
      "\r\n"
      "b.example,testing,mx.b.example,86400,\r\n";
  auto checked = csv("/v1/import?line=10&dry_run=true", body);
  ASSERT_EQ(checked.status, 200u) << checked.body;
  EXPECT_EQ(checked.body, json({{"checked", 2}, {"errors", json::array()}, {"error_count", 0}}));
  EXPECT_EQ(state_->domain_count(), 0u);

  auto imported = csv("/v1/import?line=10&confirm=true&reason=migrated", body);
  ASSERT_EQ(imported.status, 200u) << imported.body;
  // A quoted line break and a blank line count as the file counts them: b is on line 13.
  EXPECT_EQ(imported.body["first_line"], 10);
  EXPECT_EQ(imported.body["last_line"], 13);
  EXPECT_EQ(imported.body["rows"], 2);
  EXPECT_EQ(imported.body["added"], 2);
  EXPECT_EQ(imported.body["staged"], 2);
  EXPECT_EQ(imported.body["unchanged"], 0);
  EXPECT_EQ(imported.body["confirmed"], 2);
  auto status = call("GET", "/v1/domains/a.example/status");
  EXPECT_EQ(status.body["settings"]["tlsrpt_rua"], json({"mailto:t@a.example"}));
  const std::string policy = call("GET", "/v1/domains/a.example/policy").body["text"];
  EXPECT_NE(policy.find("mx: mx1.a.example\r\nmx: mx2.a.example\r\n"), std::string::npos) << policy;

  auto again = csv("/v1/import", body);
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.body["unchanged"], 2);
  EXPECT_EQ(again.body["first_line"], 2);  // without `line`, rows start on line 2
}

TEST_F(Api, CsvImportListsWarningsByLineWithinABound) {
  std::string body = "domain,mode,mx,max_age\n";
  for (size_t i = 0; i < kMaxListedImportProblems + 5; ++i) body += "w" + std::to_string(i) + ".example,enforce,mx.example,60\n";
  auto imported = csv("/v1/import", body);
  ASSERT_EQ(imported.status, 200u) << imported.body.dump().substr(0, 500);
  EXPECT_EQ(imported.body["warning_count"], kMaxListedImportProblems + 5);
  ASSERT_EQ(imported.body["warnings"].size(), kMaxListedImportProblems);
  EXPECT_EQ(imported.body["warnings"][1]["line"], 3);
  EXPECT_EQ(imported.body["warnings"][1]["domain"], "w1.example");
  EXPECT_FALSE(imported.body["warnings"][1]["message"].get<std::string>().empty());
}

TEST_F(Api, CsvImportListsErrorsWithinABoundAndCountsThemAll) {
  std::string body = "domain,mode,mx,max_age\n";
  for (size_t i = 0; i < kMaxListedImportProblems + 5; ++i) body += "e" + std::to_string(i) + ".example,sometimes,,1\n";
  for (const char* target : {"/v1/import?dry_run=true", "/v1/import"}) {
    auto answer = csv(target, body);
    EXPECT_EQ(answer.status, std::string(target).find("dry_run") != std::string::npos ? 200u : 400u);
    EXPECT_EQ(answer.body["error_count"], kMaxListedImportProblems + 5) << target;
    ASSERT_EQ(answer.body["errors"].size(), kMaxListedImportProblems) << target;
    EXPECT_EQ(answer.body["errors"][0]["error"], "line 2: column mode: 'sometimes' is not enforce, testing or none");
  }
  EXPECT_EQ(state_->domain_count(), 0u);
}

// A large body without quotes is read in two runs at once (api_import.cpp, rows_cut):
// lines, bad rows and the record that stops reading are named as one run names them
// (the same rows with one quoted field, which is read in one run).
TEST_F(Api, CsvImportReadInTwoRunsAnswersAsInOne) {
  const size_t rows = 6000;  // ~300 KiB: above the size read in two runs
  std::set<uint64_t> bad_lines;
  std::string body = "domain,mode,mx,max_age\n";
  uint64_t line = 2;
  for (size_t i = 0; i < rows; ++i, ++line) {
    if (i % 1000 == 500) body += "\n", ++line;  // blank lines count
    const bool bad = i % 1499 == 7;
    if (bad) bad_lines.insert(line);
    body += "two-runs-" + std::to_string(i) + ".example," + (bad ? "sometimes" : "enforce") +
            ",mx1.two-runs.example mx2.two-runs.example,604800\n";
  }
  std::string quoted = body;
  quoted.replace(quoted.find("mx1.two-runs.example mx2.two-runs.example"), 41,
                 "\"mx1.two-runs.example mx2.two-runs.example\"");
  ASSERT_GE(bad_lines.size(), 4u);
  ASSERT_GT(*bad_lines.rbegin(), line / 2) << "a bad row in each run";
  auto in_two = csv("/v1/import?dry_run=true&line=2", body);
  auto in_one = csv("/v1/import?dry_run=true&line=2", quoted);
  ASSERT_EQ(in_two.status, 200u) << in_two.body.dump().substr(0, 300);
  EXPECT_EQ(in_two.body, in_one.body);
  EXPECT_EQ(in_two.body["checked"], rows);
  EXPECT_EQ(lines_of(in_two.body["errors"]), bad_lines);

  // A record too long to read, in the second run: reading stops there, naming its line.
  const auto too_long_at_row_5000 = [](std::string text) {
    const size_t at = text.find("two-runs-5000.example");
    const uint64_t line = 1 + static_cast<uint64_t>(std::count(text.begin(), text.begin() + at, '\n'));
    text.insert(at, std::string(70 << 10, 'x'));
    return std::make_pair(text, line);
  };
  const auto [stops_in_two, long_line] = too_long_at_row_5000(body);
  auto stopped = csv("/v1/import?line=2", stops_in_two);
  EXPECT_EQ(stopped.status, 400u);
  ASSERT_EQ(stopped.body["errors"].size(), 1u) << stopped.body.dump().substr(0, 300);
  EXPECT_EQ(stopped.body["errors"][0]["line"], long_line) << stopped.body["errors"][0];
  EXPECT_EQ(stopped.body, csv("/v1/import?line=2", too_long_at_row_5000(quoted).first).body);
  EXPECT_EQ(state_->domain_count(), 0u);
}

// Rows drawn from values each of which the store may accept or refuse: names without room
// for the service zone or malformed, unknown modes, MX patterns that are addresses or
// missing under enforce, max_age out of range or not a number, up to 18 rua (16 at most),
// domains repeated within a request and domains already in the store (updates, too).
std::string random_row(std::mt19937& random, const std::string& long_domain) {
  // Each part is one the store refuses about one time in ten.
  auto pick = [&random](std::initializer_list<const char*> good, std::initializer_list<const char*> bad) {
    const auto& from = random() % 10 == 0 ? bad : good;
    return std::string(from.begin()[std::uniform_int_distribution<size_t>(0, from.size() - 1)(random)]);
  };
  std::string domain = "p" + std::to_string(random() % 20) + ".example";
  if (random() % 10 == 0) domain = pick({"P3.Example.", "p4.example."}, {"bad..example", "-x.example"});
  if (random() % 12 == 0) domain = long_domain;
  const std::string mode = pick({"enforce", "testing", "none"}, {"enforced"});
  const std::string mx = pick({"mx.example", "mx1.example *.mail.example"}, {"192.0.2.1", "mx..example", ""});
  const std::string max_age = pick({"86400", "604800", "60"}, {"31557601", "soon"});
  std::string rua;
  const size_t rua_count = random() % 4 == 0 ? 15 + random() % 4 : random() % 3;  // 15..18 or 0..2
  for (size_t i = 0; i < rua_count; ++i) rua += (i ? " " : "") + std::string("mailto:r") + std::to_string(i) + "@a.io";
  if (random() % 15 == 0) rua = "ftp://nowhere";
  return domain + "," + mode + ",\"" + mx + "\"," + max_age + ",\"" + rua + "\"\n";
}

TEST_F(Api, ForEveryRequestTheDryRunAcceptsExactlyWhenTheImportDoes) {
  state_->require_name_room(11 + 19, "_smtp._tls.<domain>.sts.provider.test. must fit in 255 octets");
  const std::string long_domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                                  "." + std::string(30, 'd') + ".example";
  std::mt19937 random(8461);
  size_t accepted = 0;
  for (int request = 0; request < 300; ++request) {
    std::string body = "domain,mode,mx,max_age,tlsrpt_rua\n";
    const size_t rows = std::uniform_int_distribution<size_t>(1, 4)(random);
    for (size_t i = 0; i < rows; ++i) body += random_row(random, long_domain);
    const std::string options = random() % 2 ? "&confirm=true&reason=r" : "";
    auto checked = csv("/v1/import?dry_run=true" + options, body);
    ASSERT_EQ(checked.status, 200u) << body << checked.body;
    const uint64_t before = state_->generation();
    auto imported = csv("/v1/import?" + options, body);
    const bool dry_run_accepts = checked.body["errors"].empty();
    ASSERT_EQ(imported.status, dry_run_accepts ? 200u : 400u) << body << checked.body << imported.body;
    if (dry_run_accepts) {
      ++accepted;
      EXPECT_EQ(imported.body["rows"], rows);
    } else {
      EXPECT_EQ(lines_of(imported.body["errors"]), lines_of(checked.body["errors"])) << body;
      EXPECT_EQ(state_->generation(), before) << body;
    }
  }
  // Both outcomes are drawn often enough to mean something.
  EXPECT_GT(accepted, 20u);
  EXPECT_LT(accepted, 280u);
}

}  // namespace
}  // namespace stsd::admin
