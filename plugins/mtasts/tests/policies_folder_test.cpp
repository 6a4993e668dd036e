// The `policies:` folder: YAML files validated with file:line errors and synced into the
// store (a changed file stages a version, an unchanged one stages nothing, a domain being
// retired is left alone), and what the folder may hold: every *.yaml entry that is not a
// regular file inside the folder is reported, and a private file is never quoted.
#include <chrono>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>
#include <sys/stat.h>

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

// Entries named *.yaml that are not policy files are reported, never skipped in silence.
TEST_F(PoliciesFolder, EntriesThatAreNotRegularFilesAreReported) {
  struct Case {
    const char* behaviour;
    std::function<void(const std::filesystem::path&)> make;
    std::string expect;  // after "<folder>/x.yaml"
  };
  const Case cases[] = {
      {"dangling_symlink", [](const auto& f) { std::filesystem::create_symlink("gone.conf", f / "x.yaml"); },
       ": is a symlink to gone.conf, which does not exist"},
      {"folder", [](const auto& f) { std::filesystem::create_directory(f / "x.yaml"); },
       ": is a folder, not a regular file"},
      {"fifo", [](const auto& f) { ::mkfifo((f / "x.yaml").c_str(), 0644); }, ": is a FIFO, not a regular file"},
      {"symlink_to_shadow", [](const auto& f) { std::filesystem::create_symlink("/etc/shadow", f / "x.yaml"); },
       ": resolves to /etc/shadow, which is outside"},
      {"symlink_to_dev_zero", [](const auto& f) { std::filesystem::create_symlink("/dev/zero", f / "x.yaml"); },
       ": resolves to /dev/zero, which is outside"},
      {"symlink_up_and_out",
       [](const auto& f) {
         std::ofstream(f.parent_path() / "outside.yaml") << kExample;
         std::filesystem::create_symlink("../outside.yaml", f / "x.yaml");
       },
       ": resolves to " + (std::filesystem::path(folder_).parent_path() / "outside.yaml").string() +
           ", which is outside " + folder_.string() + ": symlinks in the policies folder must stay inside it"},
      {"too_large", [](const auto& f) { std::ofstream(f / "x.yaml") << std::string(kMaxPolicyFileBytes + 1, '#'); },
       ": is 1048577 bytes, above the limit of 1048576 bytes"},
      {"nul_byte", [](const auto& f) { std::ofstream(f / "x.yaml") << std::string("mode: enforce\n\0", 15); },
       ":2: NUL byte"},
  };
  for (const auto& c : cases) {
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_);
    write("example.com.yaml", kExample);
    c.make(folder_);
    const auto started = std::chrono::steady_clock::now();
    const auto error = load_error();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2)) << c.behaviour;
    EXPECT_NE(error.find((folder_ / "x.yaml").string() + c.expect), std::string::npos) << c.behaviour << ": " << error;
    EXPECT_EQ(error.find("root:"), std::string::npos) << error;
  }
}

TEST_F(PoliciesFolder, SymlinksInsideTheFolderAreRead) {
  std::filesystem::create_directories(folder_ / "kept");
  std::ofstream(folder_ / "kept" / "example.com.policy") << kExample;
  std::filesystem::create_symlink("kept/example.com.policy", folder_ / "example.com.yaml");
  const auto files = load_policy_files(folder_);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].domain, "example.com");
}

TEST_F(PoliciesFolder, AFileOthersCannotReadIsNeverQuoted) {
  const std::string marker = "SECRET-MARKER-4242";
  const std::string texts[] = {
      "mode: " + marker + "\nmx: mx.example.com\nmax_age: 86400\n",              // a bad value
      "mode: enforce\nmx: mx.example.com\nmax_age: 86400\n" + marker + ": 1\n",  // an unknown key
      marker + ":$y$j9T$abc:19000:0:99999:7:::\n",                               // an /etc/shadow line
  };
  for (const auto& text : texts) {
    write("bad.example.yaml", text);
    std::filesystem::permissions(folder_ / "bad.example.yaml", std::filesystem::perms(0600));
    const auto error = load_error();
    EXPECT_NE(error.find((folder_ / "bad.example.yaml").string() + ":"), std::string::npos) << error;
    EXPECT_NE(error.find("content withheld"), std::string::npos) << error;
    EXPECT_EQ(error.find(marker), std::string::npos) << error;
    // Readable by others, the same file is quoted: the test would see a leak.
    std::filesystem::permissions(folder_ / "bad.example.yaml", std::filesystem::perms(0644));
    EXPECT_NE(load_error().find(marker), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace stsd::mtasts
