// The certificate store: which certificate SNI selects, and which files are skipped.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "policyhost/cert_store.h"
#include "temp_dir.h"
#include "test_pki.h"

namespace stsd::policyhost {
namespace {

using std::chrono::seconds;
using test::IssueOptions;
using test::TempDir;
using test::TestPki;
using test::write_file;
namespace fs = std::filesystem;

const auto kNow = std::chrono::system_clock::now();

std::string selected_file(const CertificateIndex& index, std::string_view host) {
  auto selection = index.select(host, kNow);
  return selection.certificate ? selection.certificate->file.filename().string() : "(none)";
}

bool any_problem_mentions(const std::vector<std::string>& problems, std::string_view file, std::string_view reason) {
  for (const auto& problem : problems)
    if (problem.find(file) != std::string::npos && problem.find(reason) != std::string::npos) return true;
  return false;
}

class CertificateStoreTest : public ::testing::Test {
 protected:
  static TestPki& pki() {
    static TestPki instance;
    return instance;
  }
  void write_pem(const std::string& name, const std::vector<std::string>& dns_names) {
    auto issued = pki().issue(dns_names);
    write_file(dir_.path() / name, issued.chain_pem + issued.key_pem);
  }
  TempDir dir_;
};

TEST_F(CertificateStoreTest, SelectsByExactNameWildcardAndCase) {
  write_pem("two-domains.pem", {"mta-sts.alpha.test", "mta-sts.beta.test"});
  write_pem("wildcard.pem", {"*.gamma.test"});
  auto index = CertificateIndex::load(dir_.path(), nullptr);
  ASSERT_EQ(index->problems().size(), 0u) << index->problems().front();

  struct Case {
    std::string_view host;
    std::string_view expected;
  };
  const Case cases[] = {
      {"mta-sts.alpha.test", "two-domains.pem"},
      {"mta-sts.beta.test", "two-domains.pem"},
      {"MTA-STS.Alpha.TEST", "two-domains.pem"},   // DNS names are case-insensitive
      {"mta-sts.alpha.test.", "two-domains.pem"},  // a trailing dot is the same name
      {"mta-sts.gamma.test", "wildcard.pem"},      // *.gamma.test covers one label
      {"x.gamma.test", "wildcard.pem"},
      {"a.mta-sts.gamma.test", "(none)"},  // ... and only one (RFC 6125 §6.4.3)
      {"gamma.test", "(none)"},            // ... and not the parent itself
      {"mta-sts.delta.test", "(none)"},
      {"alpha.test", "(none)"},
      {"", "(none)"},
      {"*.gamma.test", "(none)"},  // a wildcard is not a server name
      {"mta-sts.alpha.test\n", "(none)"},
  };
  for (const auto& c : cases) EXPECT_EQ(selected_file(*index, c.host), c.expected) << c.host;
}

TEST_F(CertificateStoreTest, PrefersValidThenExactThenLongestLived) {
  auto write_with = [&](const std::string& name, std::vector<std::string> names, seconds not_before,
                        seconds not_after) {
    IssueOptions options;
    options.dns_names = std::move(names);
    options.not_before = not_before;
    options.not_after = not_after;
    auto issued = pki().issue(options);
    write_file(dir_.path() / name, issued.chain_pem + issued.key_pem);
  };
  write_with("expired-exact.pem", {"mta-sts.one.test"}, seconds(-7200), seconds(-3600));
  write_with("valid-wildcard.pem", {"*.one.test"}, seconds(-3600), seconds(86400));
  write_with("short.pem", {"mta-sts.two.test"}, seconds(-3600), seconds(86400));
  write_with("long.pem", {"mta-sts.two.test"}, seconds(-3600), seconds(10 * 86400));
  write_with("wildcard-long.pem", {"*.two.test"}, seconds(-3600), seconds(20 * 86400));
  write_with("future.pem", {"mta-sts.three.test"}, seconds(3600), seconds(86400));
  write_with("expired-only.pem", {"mta-sts.four.test"}, seconds(-7200), seconds(-3600));
  auto index = CertificateIndex::load(dir_.path(), nullptr);
  ASSERT_TRUE(index->problems().empty());
  EXPECT_EQ(selected_file(*index, "mta-sts.one.test"), "valid-wildcard.pem");  // valid beats exact
  EXPECT_EQ(selected_file(*index, "mta-sts.two.test"), "long.pem");            // exact beats wildcard
  EXPECT_EQ(selected_file(*index, "mta-sts.three.test"), "future.pem");        // better than nothing
  EXPECT_EQ(selected_file(*index, "mta-sts.four.test"), "expired-only.pem");   // reported, still served
}

TEST_F(CertificateStoreTest, LoadsCrtWithSameNamedKey) {
  auto issued = pki().issue({"mta-sts.pair.test"});
  write_file(dir_.path() / "pair.crt", issued.chain_pem);
  write_file(dir_.path() / "pair.key", issued.key_pem);
  auto index = CertificateIndex::load(dir_.path(), nullptr);
  EXPECT_TRUE(index->problems().empty());
  EXPECT_EQ(selected_file(*index, "mta-sts.pair.test"), "pair.crt");
}

TEST_F(CertificateStoreTest, LeafAfterCaInPemStillLoads) {
  auto issued = pki().issue({"mta-sts.order.test"});
  write_file(dir_.path() / "order.pem", pki().ca_pem() + issued.key_pem + issued.certificate_pem);
  auto index = CertificateIndex::load(dir_.path(), nullptr);
  EXPECT_TRUE(index->problems().empty());
  EXPECT_EQ(selected_file(*index, "mta-sts.order.test"), "order.pem");
}

TEST_F(CertificateStoreTest, BadFilesAreReportedAndSkippedOthersLoad) {
  auto good = pki().issue({"mta-sts.good.test"});
  auto other = pki().issue({"mta-sts.other.test"});
  IssueOptions cn_only;
  cn_only.common_name = "mta-sts.cn-only.test";
  auto no_san = pki().issue(cn_only);
  IssueOptions encrypted;
  encrypted.dns_names = {"mta-sts.encrypted.test"};
  encrypted.key_passphrase = "secret";
  auto locked = pki().issue(encrypted);

  struct BadFile {
    std::string name;
    std::string content;
    std::string reason;  // a fragment of the reported reason
  };
  const std::vector<BadFile> bad_files = {
      {"garbage.pem", "this is not PEM\n", "no PEM certificate"},
      {"empty.pem", "", "no PEM certificate"},
      {"no-key.pem", good.chain_pem, "no usable private key"},
      {"mismatch.pem", good.chain_pem + other.key_pem, "does not match"},
      {"encrypted.pem", locked.chain_pem + locked.key_pem, "pass phrase"},
      {"cn-only.pem", no_san.chain_pem + no_san.key_pem, "no DNS name in subjectAltName"},
      {"truncated.pem", good.chain_pem.substr(0, good.chain_pem.size() / 2) + good.key_pem, "no PEM certificate"},
      {"huge.pem", std::string(2 << 20, 'A'), "larger than 1 MiB"},
      {"lonely.crt", other.chain_pem, "no lonely.key beside it"},
  };
  for (const auto& bad : bad_files) write_file(dir_.path() / bad.name, bad.content);
  write_file(dir_.path() / "good.pem", good.chain_pem + good.key_pem);
  write_file(dir_.path() / "readme.txt", "not a certificate, not looked at");
  write_file(dir_.path() / ".hidden.pem", "editor swap file");
  write_file(dir_.path() / "stray.key", other.key_pem);  // a key without a .crt: ignored

  auto index = CertificateIndex::load(dir_.path(), nullptr);
  EXPECT_EQ(selected_file(*index, "mta-sts.good.test"), "good.pem");
  EXPECT_EQ(index->certificates().size(), 1u);
  for (const auto& bad : bad_files)
    EXPECT_TRUE(any_problem_mentions(index->problems(), bad.name, bad.reason))
        << bad.name << " should be reported with '" << bad.reason << "'";
  EXPECT_EQ(index->problems().size(), bad_files.size());
  EXPECT_EQ(selected_file(*index, "mta-sts.encrypted.test"), "(none)");
  EXPECT_EQ(selected_file(*index, "mta-sts.cn-only.test"), "(none)");
}

TEST_F(CertificateStoreTest, MissingDirectoryIsReportedNotFatal) {
  CertificateStore store(dir_.path() / "not-yet");
  EXPECT_TRUE(store.refresh());
  ASSERT_EQ(store.problems().size(), 1u);
  EXPECT_NE(store.problems()[0].find("not-yet"), std::string::npos);
  EXPECT_FALSE(store.certificate_for("mta-sts.late.test"));

  fs::create_directory(dir_.path() / "not-yet");
  auto issued = pki().issue({"mta-sts.late.test"});
  write_file(dir_.path() / "not-yet" / "late.pem", issued.chain_pem + issued.key_pem);
  EXPECT_TRUE(store.refresh());
  EXPECT_TRUE(store.certificate_for("mta-sts.late.test"));
  EXPECT_TRUE(store.problems().empty());
}

TEST_F(CertificateStoreTest, RefreshReloadsOnlyWhenTheFolderChanges) {
  write_pem("first.pem", {"mta-sts.first.test"});
  CertificateStore store(dir_.path());
  EXPECT_TRUE(store.refresh());   // the first load
  EXPECT_FALSE(store.refresh());  // nothing changed
  const LoadedCertificate* first = store.snapshot()->select("mta-sts.first.test", kNow).certificate;
  ASSERT_NE(first, nullptr);

  write_pem("second.pem", {"mta-sts.second.test"});  // added
  EXPECT_TRUE(store.refresh());
  EXPECT_TRUE(store.certificate_for("mta-sts.second.test"));
  // The unchanged file was not parsed again.
  EXPECT_EQ(store.snapshot()->select("mta-sts.first.test", kNow).certificate, first);

  write_pem("first.pem", {"mta-sts.renamed.test"});  // changed in place
  EXPECT_TRUE(store.refresh());
  EXPECT_FALSE(store.certificate_for("mta-sts.first.test"));
  EXPECT_TRUE(store.certificate_for("mta-sts.renamed.test"));

  fs::remove(dir_.path() / "second.pem");  // removed
  EXPECT_TRUE(store.refresh());
  EXPECT_FALSE(store.certificate_for("mta-sts.second.test"));

  write_file(dir_.path() / "broken.pem", "oops");  // a bad file does not drop the others
  EXPECT_TRUE(store.refresh());
  EXPECT_TRUE(store.certificate_for("mta-sts.renamed.test"));
  EXPECT_EQ(store.problems().size(), 1u);
}

TEST_F(CertificateStoreTest, CrtReloadsWhenOnlyItsKeyChanges) {
  auto first = pki().issue({"mta-sts.pair.test"});
  auto second = pki().issue({"mta-sts.pair.test"});
  write_file(dir_.path() / "pair.crt", second.chain_pem);
  write_file(dir_.path() / "pair.key", first.key_pem);  // renewal half done: mismatch
  CertificateStore store(dir_.path());
  store.refresh();
  EXPECT_FALSE(store.certificate_for("mta-sts.pair.test"));
  write_file(dir_.path() / "pair.key", second.key_pem);  // now complete
  EXPECT_TRUE(store.refresh());
  EXPECT_TRUE(store.certificate_for("mta-sts.pair.test"));
}

TEST_F(CertificateStoreTest, ReportsDomainsWithoutCertificate) {
  write_pem("a.pem", {"mta-sts.covered.test", "*.wild.test"});
  CertificateStore store(dir_.path());
  store.refresh();
  auto match = store.certificate_for("mta-sts.wild.test");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->matched_name, "*.wild.test");
  EXPECT_TRUE(match->valid_now);
  EXPECT_EQ(fs::path(match->file).filename(), "a.pem");
  const CertificateReport& report = store;
  EXPECT_EQ(report.domains_without_certificate({"covered.test", "wild.test", "bare.test", "covered.test.extra"}),
            (std::vector<std::string>{"bare.test", "covered.test.extra"}));
}

TEST(ServerContext, AllowsOnlyTls12And13) {
  auto context = make_server_context();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(context.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(context.get()), TLS1_3_VERSION);
  EXPECT_TRUE(SSL_CTX_get_options(context.get()) & SSL_OP_NO_RENEGOTIATION);
}

TEST(NormalizeHost, AcceptsHostNamesOnly) {
  struct Case {
    std::string input;
    std::optional<std::string> expected;
  };
  const Case cases[] = {
      {"MTA-STS.Example.COM", "mta-sts.example.com"},
      {"mta-sts.example.com.", "mta-sts.example.com"},
      {"*.example.com", "*.example.com"},
      {"", std::nullopt},
      {".", std::nullopt},
      {"a..b", std::nullopt},
      {".a.b", std::nullopt},
      {"exa mple.com", std::nullopt},
      {"ex\xc3\xa4mple.com", std::nullopt},
      {std::string(254, 'a'), std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(normalize_host(c.input), c.expected) << c.input;
}

}  // namespace
}  // namespace stsd::policyhost
