// The `policies:` folder: YAML files validated with file:line errors and synced into the
// store (a changed file stages a version, an unchanged one stages nothing, a domain being
// retired is left alone).
#include <fstream>

#include <gtest/gtest.h>

#include "clock.h"
#include "policies_sync.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::mtasts {
namespace {

using namespace stsd::store;

class PoliciesFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = store_.dir() / "policies";
    std::filesystem::create_directories(folder_);
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(std::chrono::seconds(1735689600)));
    state_ = std::make_unique<PolicyStore>(store_.db(), clock_);
  }
  void write(const std::string& name, const std::string& text) { std::ofstream(folder_ / name) << text; }
  std::string load_error() {
    try {
      load_policy_files(folder_);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  store::test_support::TempStore store_;
  std::filesystem::path folder_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PolicyStore> state_;
};

const char* kExample = "mode: enforce\nmx: [mx1.example.com, \"*.mail.example.com\"]\nmax_age: 604800\n";

TEST_F(PoliciesFolder, DomainComesFromTheFileNameOrTheDomainKey) {
  write("example.com.yaml", kExample);
  write("other.yml", std::string("domain: Example.NET\n") + kExample);
  write("README.txt", "not a policy");
  const auto files = load_policy_files(folder_);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].domain, "example.com");
  EXPECT_EQ(files[1].domain, "example.net");
  EXPECT_EQ(files[0].policy.mx, (std::vector<std::string>{"mx1.example.com", "*.mail.example.com"}));
}

struct BadFile {
  const char* name;
  std::string text;
  const char* expect;  // includes the line
};

TEST_F(PoliciesFolder, BadFilesAreReportedByFileAndLine) {
  const std::vector<BadFile> cases = {
      {"ip_mx", "mode: enforce\nmax_age: 86400\nmx:\n  - mx1.example.com\n  - 192.0.2.25\n",
       "bad.example.yaml:5:5: mx[1]: mx pattern '192.0.2.25' is an IP address"},
      {"unknown_key", "mode: enforce\nmx: mx.example.com\nmax_age: 86400\nmaxage: 5\n",
       "bad.example.yaml:4:1: maxage: unknown key"},
      {"bad_mode", "mode: strict\nmx: mx.example.com\nmax_age: 86400\n",
       "bad.example.yaml:1:7: mode: mode must be enforce"},
      {"max_age_too_long", "mode: enforce\nmx: mx.example.com\nmax_age: 99999999\n",
       "bad.example.yaml:3:10: max_age: value 99999999 is out of range"},
      {"no_mx", "mode: none\nmx: []\nmax_age: 86400\n", "bad.example.yaml:2:5: mx: mode none still needs"},
      {"missing_mode", "mx: mx.example.com\nmax_age: 86400\n", "missing required key 'mode'"},
      {"bad_rua", "mode: enforce\nmx: mx.example.com\nmax_age: 86400\ntlsrpt_rua: [http://r.example.com/]\n",
       "bad.example.yaml:4:14: tlsrpt_rua[0]: rua"},
      {"bad_vantage", "mode: enforce\nmx: mx.example.com\nmax_age: 86400\nvantages: [edge1]\n",
       "bad.example.yaml:4:12: vantages[0]: vantage 'edge1'"},
      {"bad_domain", "domain: exa_mple.com\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n",
       "bad.example.yaml:1:9: domain: domain 'exa_mple.com'"},
      {"yaml_syntax", "mode: [enforce\nmx: x\n", "YAML syntax error"},
      {"empty", "", "the file is empty"},
      {"duplicate_key", "mode: enforce\nmx: mx.example.com\nmax_age: 86400\nmax_age: 60\n",
       "bad.example.yaml:4:1: max_age: duplicate key"},
  };
  for (const auto& c : cases) {
    write("bad.example.yaml", c.text);
    const auto error = load_error();
    EXPECT_NE(error.find(c.expect), std::string::npos) << c.name << ": " << error;
    std::filesystem::remove(folder_ / "bad.example.yaml");
  }
}

TEST_F(PoliciesFolder, AFileNamedAfterNoDomainNeedsADomainKey) {
  write("customer-42.yaml", kExample);
  EXPECT_NE(load_error().find("add a domain: key"), std::string::npos) << load_error();
}

TEST_F(PoliciesFolder, TwoFilesForOneDomainAreRefused) {
  write("example.com.yaml", kExample);
  write("second.yaml", std::string("domain: example.com\n") + kExample);
  EXPECT_NE(load_error().find("already defined in"), std::string::npos) << load_error();
}

TEST_F(PoliciesFolder, ChangedFilesStageUnchangedOnesDoNot) {
  write("example.com.yaml", std::string(kExample) + "tlsrpt_rua: [mailto:tls@example.com]\n");
  auto report = sync_policy_files(*state_, load_policy_files(folder_));
  EXPECT_EQ(report.added, 1u);
  EXPECT_EQ(report.staged, 1u);
  EXPECT_TRUE(report.errors.empty());
  auto status = state_->status("example.com", 0);
  EXPECT_EQ(status->staged->number, 1u);
  EXPECT_EQ(status->settings.tlsrpt_rua, (std::vector<std::string>{"mailto:tls@example.com"}));

  const auto generation = state_->generation();
  report = sync_policy_files(*state_, load_policy_files(folder_));
  EXPECT_EQ(report.staged, 0u);
  EXPECT_EQ(report.unchanged, 1u);
  EXPECT_EQ(state_->generation(), generation) << "an unchanged folder changes nothing";

  write("example.com.yaml", "mode: testing\nmx: [mx1.example.com]\nmax_age: 604800\n");
  report = sync_policy_files(*state_, load_policy_files(folder_));
  EXPECT_EQ(report.staged, 1u);
  EXPECT_EQ(report.settings_updated, 1u);
  status = state_->status("example.com", 0);
  EXPECT_EQ(status->staged->number, 2u);
  EXPECT_EQ(status->staged->policy.mode, Mode::Testing);
  EXPECT_TRUE(status->settings.tlsrpt_rua.empty());
  EXPECT_FALSE(status->confirmed) << "syncing never confirms";
}

TEST_F(PoliciesFolder, ADomainBeingRetiredIsLeftAlone) {
  write("example.com.yaml", kExample);
  sync_policy_files(*state_, load_policy_files(folder_));
  state_->confirm("example.com", 1, true, "served");
  state_->retire("example.com", "customer left");  // stages version 2, mode none
  const auto generation = state_->generation();
  const auto report = sync_policy_files(*state_, load_policy_files(folder_));
  ASSERT_EQ(report.retiring.size(), 1u);
  EXPECT_NE(report.retiring[0].find("example.com.yaml: example.com is being retired"), std::string::npos)
      << report.retiring[0];
  EXPECT_EQ(report.staged, 0u);
  EXPECT_EQ(state_->generation(), generation) << "the file's policy would cancel the retirement";
  EXPECT_TRUE(state_->status("example.com", 0)->retirement);
}

TEST_F(PoliciesFolder, StoreRefusalsAreReportedPerFile) {
  state_->require_name_room(250, "the service zone is long");
  write("example.com.yaml", kExample);
  const auto report = sync_policy_files(*state_, load_policy_files(folder_));
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("example.com.yaml"), std::string::npos) << report.errors[0];
  EXPECT_FALSE(state_->has_domain("example.com"));
}

TEST_F(PoliciesFolder, TheRepositoryExampleIsValid) {
  const auto files = load_policy_files(std::filesystem::path(STSD_SOURCE_DIR) / "zones" / "policies");
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) EXPECT_TRUE(policy_errors(f.policy).empty()) << f.file;
}

}  // namespace
}  // namespace stsd::mtasts
