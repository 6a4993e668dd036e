// The intake over a real store: storing, duplicates, attribution and stale reports,
// refusals that change nothing, the size bound and retention, and the admin routes.
#include <gtest/gtest.h>

#include <rocksdb/db.h>

#include "clock.h"
#include "environment.h"
#include "report_shapes.h"
#include "store/admin_extensions.h"
#include "store/policy_store.h"
#include "temp_store.h"
#include "tlsrpt/intake.h"
#include "tlsrpt/service.h"

namespace stsd::tlsrpt {
namespace {

using nlohmann::json;
constexpr int64_t kNow = 1796083200;  // 2026-12-01T00:00:00Z
const std::vector<std::string> kV1 = {"version: STSv1", "mode: testing", "mx: mx1.example.com", "max_age: 86400"};
const std::vector<std::string> kV2 = {"version: STSv1", "mode: enforce", "mx: mx1.example.com", "max_age: 604800"};

store::Policy policy_of(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return *store::parse_policy(text).policy;
}

class IntakeTest : public testing::Test {
 protected:
  IntakeTest() {
    clock_->set(std::chrono::system_clock::time_point(std::chrono::seconds(kNow - 10 * 86400)));
    store_ = std::make_shared<store::PolicyStore>(temp_.db(), clock_);
    store_->add_domain("example.com", {});
    store_->stage("example.com", policy_of(kV1), false);
    store_->confirm("example.com", 1, true, "test");  // v1 confirmed 2026-11-21
    clock_->set(std::chrono::system_clock::time_point(std::chrono::seconds(kNow - 5 * 86400)));
    store_->stage("example.com", policy_of(kV2), false);
    store_->confirm("example.com", 2, true, "test");  // v2 confirmed 2026-11-26
    clock_->set(std::chrono::system_clock::time_point(std::chrono::seconds(kNow)));
  }
  Intake& intake(IntakeSettings settings = {}) {
    intake_ = std::make_unique<Intake>(store_, settings);
    return *intake_;
  }
  // Every record of the key space, to show that a refusal changed nothing.
  std::map<std::string, std::string> records() const {
    std::map<std::string, std::string> out;
    store_->space_scan("tlsrpt", "", [&](std::string_view key, std::string_view value) {
      out.emplace(key, value);
      return true;
    });
    return out;
  }
  std::string report(const std::string& org, const std::string& id, int64_t start,
                     const std::vector<std::string>& lines, uint64_t successful = 10, size_t failures = 2) {
    return test::large_reporter_report(org, id, start, "example.com", lines, successful, failures).dump();
  }

  store::test_support::TempStore temp_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::shared_ptr<store::PolicyStore> store_;
  std::unique_ptr<Intake> intake_;
};

TEST_F(IntakeTest, StoresTheRfcExampleAndCountsADuplicateOnce) {
  store_->add_domain("company-y.example", {});
  Intake& in = intake();
  const std::string body = test::rfc8460_example(kNow - 86400).dump();
  IngestResult first = in.ingest(body, kJsonType, "test");
  ASSERT_EQ(first.outcome, Outcome::Stored) << first.error;
  EXPECT_EQ(first.document()["domain"], "company-y.example");
  const auto after_first = records();
  IngestResult again = in.ingest(test::gzip(body), kGzipType, "test");
  EXPECT_EQ(again.outcome, Outcome::Duplicate);
  EXPECT_EQ(again.document()["duplicate"], true);
  EXPECT_EQ(records(), after_first);
  const json summary = in.reports().domain_summary("company-y.example", "2026-11-01");
  EXPECT_EQ(summary["totals"], (json{{"successful", 5326}, {"failed", 303}}));
  EXPECT_EQ(summary["failures"],
            (json{{"certificate-expired", 100}, {"starttls-not-supported", 200}, {"validation-failure", 3}}));
  EXPECT_EQ(summary["unknown_policy"], 1);  // company-y.example has no version with that policy
  EXPECT_EQ(summary["days"].size(), 1u);
}

TEST_F(IntakeTest, FlagsAReportThatAppliedAVersionReplacedBeforeItStarted) {
  Intake& in = intake();
  // Applied v1 on 2026-11-29, three days after v2's confirmation: stale.
  IngestResult stale = in.ingest(report("google.com", "r1", kNow - 2 * 86400, kV1, 40, 3), kJsonType, "test");
  ASSERT_EQ(stale.outcome, Outcome::Stored) << stale.error;
  ASSERT_EQ(stale.stale.size(), 1u);
  EXPECT_EQ(stale.stale[0]["version"], 1);
  EXPECT_EQ(stale.stale[0]["confirmed_version"], 2);
  // Applied v1 before v2 was confirmed: not stale. Applied v2: not stale.
  EXPECT_TRUE(in.ingest(report("google.com", "r0", kNow - 7 * 86400, kV1), kJsonType, "test").stale.empty());
  EXPECT_TRUE(in.ingest(report("microsoft.com", "m1", kNow - 2 * 86400, kV2), kJsonType, "test").stale.empty());
  const json summary = in.reports().domain_summary("example.com", "2026-11-01");
  ASSERT_EQ(summary["stale"].size(), 1u);
  const json& entry = summary["stale"][0];
  EXPECT_EQ(entry["reporter"], "google.com");
  EXPECT_EQ(entry["version"], 1);
  EXPECT_EQ(entry["confirmed_version"], 2);
  EXPECT_EQ(entry["confirmed_at"], iso8601(kNow - 5 * 86400));
  EXPECT_EQ(entry["successful"], 40);
  EXPECT_EQ(entry["failed"], 1 + 2 + 3);
  EXPECT_EQ(entry["first"], iso8601(kNow - 2 * 86400));
  const json everywhere = in.reports().stale_domains();
  ASSERT_EQ(everywhere["domains"].size(), 1u);
  EXPECT_EQ(everywhere["domains"][0]["domain"], "example.com");
  const json section = in.reports().status_section("example.com", kNow);
  ASSERT_EQ(section["lines"].size(), 2u);
  EXPECT_NE(section["lines"][1].get<std::string>().find("STALE: google.com applied version 1 while version 2"),
            std::string::npos)
      << section.dump();
  EXPECT_EQ(in.reports().usage().domains_with_stale, 1u);
  EXPECT_EQ(in.reports().usage().domains_with_failures, 1u);
}

TEST_F(IntakeTest, MarksAPolicyNoVersionHadAsUnknown) {
  Intake& in = intake();
  const std::vector<std::string> other = {"version: STSv1", "mode: enforce", "mx: other.example.net", "max_age: 1"};
  ASSERT_EQ(in.ingest(report("google.com", "u1", kNow - 86400, other), kJsonType, "t").outcome, Outcome::Stored);
  const std::vector<std::string> broken = {"version: STSv9"};
  ASSERT_EQ(in.ingest(report("google.com", "u2", kNow - 86400, broken), kJsonType, "t").outcome, Outcome::Stored);
  EXPECT_EQ(in.reports().domain_summary("example.com", "2026-11-01")["unknown_policy"], 2);
}

struct BadInput {
  const char* name;
  std::string body;
  std::string media_type;
  Outcome outcome;
  const char* error_start;
};

TEST_F(IntakeTest, RefusalsNameTheReasonAndChangeNothing) {
  IntakeSettings settings;
  settings.max_compressed_bytes = 64 << 10;
  settings.max_decompressed_bytes = 1 << 20;
  Intake& in = intake(settings);
  ASSERT_EQ(in.ingest(report("google.com", "kept", kNow - 86400, kV2), kJsonType, "t").outcome, Outcome::Stored);
  json missing = json::parse(report("google.com", "x1", kNow - 86400, kV2));
  missing["policies"][0]["summary"].erase("total-failure-session-count");
  json elsewhere = json::parse(report("google.com", "x2", kNow - 86400, kV2));
  elsewhere["policies"][0]["policy"]["policy-domain"] = "not-in-store.example";
  const std::vector<BadInput> cases = {
      {"malformed", missing.dump(), std::string(kJsonType), Outcome::Malformed,
       "policies[0].summary.total-failure-session-count: missing"},
      {"not_json", "hello", std::string(kJsonType), Outcome::Malformed, "report: not JSON"},
      {"gzip_label_on_json", report("google.com", "x3", kNow - 86400, kV2), std::string(kGzipType),
       Outcome::Malformed, "body: not gzip data"},
      {"media_type", "{}", "application/json", Outcome::MediaType, "Content-Type: 'application/json' is neither"},
      {"oversized", std::string(65 << 10, ' '), std::string(kJsonType), Outcome::TooLarge, "body: 66560 octets"},
      {"zip_bomb", test::gzip(std::string(32 << 20, ' ')), std::string(kGzipType), Outcome::TooLarge,
       "body: inflates to more than 1048576 octets"},
      {"deep", std::string(5000, '[') + std::string(5000, ']'), std::string(kJsonType), Outcome::Malformed,
       "report: nested deeper than 12 levels"},
      {"unknown_domain", elsewhere.dump(), std::string(kJsonType), Outcome::UnknownDomain,
       "policies[0].policy.policy-domain: not-in-store.example is not in the store"},
  };
  const auto before = records();
  for (const auto& c : cases) {
    const IngestResult result = in.ingest(c.body, c.media_type, "t");
    EXPECT_EQ(result.outcome, c.outcome) << c.name << ": " << result.error;
    EXPECT_TRUE(result.error.starts_with(c.error_start)) << c.name << ": " << result.error;
    EXPECT_EQ(result.document()["error"], result.error) << c.name;
    EXPECT_EQ(records(), before) << c.name << " changed the store";
  }
}

TEST_F(IntakeTest, KeepsReportsOfUnknownDomainsApartWhenAsked) {
  IntakeSettings settings;
  settings.storage.keep_unknown_domains = true;
  Intake& in = intake(settings);
  json elsewhere = json::parse(report("google.com", "k1", kNow - 86400, kV2));
  elsewhere["policies"][0]["policy"]["policy-domain"] = "Not-In-Store.example.";
  ASSERT_EQ(in.ingest(elsewhere.dump(), kJsonType, "t").outcome, Outcome::Stored);
  const json kept = in.reports().domain_summary("not-in-store.example", "2026-11-01");
  EXPECT_EQ(kept["kept_apart"], true);
  EXPECT_EQ(kept["totals"]["successful"], 10);
  EXPECT_EQ(in.reports().domain_summary("example.com", "2026-11-01")["days"].size(), 0u);
}

TEST_F(IntakeTest, LargeReporterShapesOverGzipInParallel) {
  Intake& in = intake();
  std::vector<std::thread> threads;
  std::atomic<int> stored{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        const std::string body =
            report(t % 2 ? "google.com" : "microsoft.com", id, kNow - (1 + i % 3) * 86400, kV2, 1000, 500);
        if (in.ingest(test::gzip(body), kGzipType, "t").outcome == Outcome::Stored) ++stored;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(stored.load(), 200);
  const json summary = in.reports().domain_summary("example.com", "2026-11-01");
  EXPECT_EQ(summary["totals"]["successful"], 200 * 1000);
  EXPECT_EQ(summary["days"].size(), 3u);
  EXPECT_EQ(summary["failures"].size(), 2u);
}

TEST_F(IntakeTest, TheSizeBoundDropsTheOldestDaysFirst) {
  IntakeSettings settings;
  settings.storage.max_bytes = 8 << 10;
  Intake& in = intake(settings);
  for (int day = 20; day >= 1; --day) {
    const IngestResult r =
        in.ingest(report(std::to_string(day) + ".example", std::to_string(day), kNow - day * 86400, kV2), kJsonType, "t");
    ASSERT_EQ(r.outcome, Outcome::Stored) << day << ": " << r.error;
    EXPECT_LE(in.reports().usage().bytes, settings.storage.max_bytes) << day;
  }
  const json summary = in.reports().domain_summary("example.com", "2026-01-01");
  ASSERT_FALSE(summary["days"].empty());
  EXPECT_EQ(summary["days"].back()["day"], utc_day(kNow - 86400));  // the newest stays
  EXPECT_GT(summary["days"].front()["day"].get<std::string>(), utc_day(kNow - 20 * 86400));  // the oldest went
  // A report older than every stored day cannot make room: refused, nothing changes.
  const auto before = records();
  std::string huge = report("big.example", "big", kNow - 25 * 86400, kV2, 1, 300);
  const IngestResult full = in.ingest(huge, kJsonType, "t");
  EXPECT_EQ(full.outcome, Outcome::StorageFull) << full.error;
  EXPECT_EQ(records(), before);
  // A dropped report's id is forgotten with its day: sent again, it is no duplicate (and
  // as the oldest, finds no room).
  EXPECT_EQ(in.ingest(report("20.example", "20", kNow - 20 * 86400, kV2), kJsonType, "t").outcome,
            Outcome::StorageFull);
}

TEST_F(IntakeTest, RetentionSweepDropsOldDays) {
  Intake& in = intake();
  ASSERT_EQ(in.ingest(report("a.example", "old", kNow - 80 * 86400, kV1), kJsonType, "t").outcome, Outcome::Stored);
  ASSERT_EQ(in.ingest(report("a.example", "new", kNow - 1 * 86400, kV1), kJsonType, "t").outcome, Outcome::Stored);
  EXPECT_EQ(in.reports().sweep(kNow), 0u);
  EXPECT_EQ(in.reports().sweep(kNow + 15 * 86400), 1u);
  const json summary = in.reports().domain_summary("example.com", "2026-01-01");
  ASSERT_EQ(summary["days"].size(), 1u);
  EXPECT_EQ(summary["days"][0]["day"], utc_day(kNow - 86400));
  EXPECT_EQ(in.reports().usage().days, 1u);
}

TEST_F(IntakeTest, MetricsHaveBoundedLabels) {
  Intake& in = intake();
  in.ingest(report("google.com", "m1", kNow - 2 * 86400, kV1), kJsonType, "t");
  in.ingest("x", kJsonType, "t");
  metrics::MetricsWriter writer;
  in.write_metrics(writer);
  const std::string text = writer.render();
  EXPECT_NE(text.find("stsd_tlsrpt_reports_total{outcome=\"stored\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("stsd_tlsrpt_reports_total{outcome=\"malformed\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("stsd_tlsrpt_sessions_total{result=\"sts-webpki-invalid\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("stsd_tlsrpt_domains_stale 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("example.com"), std::string::npos) << "a label per domain";
}

TEST_F(IntakeTest, RestartKeepsTheGaugesAndDuplicates) {
  {
    Intake& in = intake();
    ASSERT_EQ(in.ingest(report("google.com", "s1", kNow - 2 * 86400, kV1), kJsonType, "t").outcome, Outcome::Stored);
  }
  Intake& again = intake();
  EXPECT_EQ(again.reports().usage().domains_with_stale, 1u);
  EXPECT_EQ(again.ingest(report("google.com", "s1", kNow - 2 * 86400, kV1), kJsonType, "t").outcome,
            Outcome::Duplicate);
}

}  // namespace
}  // namespace stsd::tlsrpt
