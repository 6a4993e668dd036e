// TLS-RPT report mails (RFC 8460 §5.3) in the shapes the large reporters send, and broken
// ones: the report part found and decoded, or a refusal that says why. The fixtures are
// written by mail/make_fixtures.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "report_mail.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsctl {
namespace {

std::string fixture(const std::string& name) {
  const auto path = std::filesystem::path(STSD_SOURCE_DIR) / "tools/stsctl/tests/mail" / name;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Found {
  const char* mail;
  const char* media_type;
  const char* content;  // fixture with the expected bytes, or "" for JSON text
  const char* filename;
};

TEST(ReportMail, FindsTheReportPartOfEachShape) {
  const Found cases[] = {
    {"google.eml",       "application/tlsrpt+gzip", "google.json.gz",    "google.com!example.com!1764374400!1764460799!001.json.gz"},
    {"microsoft.eml",    "application/tlsrpt+gzip", "microsoft.json.gz", "microsoft.com!example.com!1764374400!1764460799!133456789012345678.json.gz"},
    {"generic-type.eml", "application/tlsrpt+gzip", "google.json.gz",    "google.com!example.com!1764374400!1764460799!001.json.gz"},
    {"forwarded.eml",    "application/tlsrpt+gzip", "google.json.gz",    "google.com!example.com!1764374400!1764460799!001.json.gz"},
    {"json.eml",         "application/tlsrpt+json", "",                  "mail.example.net!example.com!1764374400!1764460799.json"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mail);
    const auto reports = extract_reports(fixture(c.mail));
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].media_type, c.media_type);
    EXPECT_EQ(reports[0].filename, c.filename);
    if (*c.content) {
      EXPECT_EQ(reports[0].bytes, fixture(c.content));
    } else {
      EXPECT_EQ(reports[0].bytes.rfind("{", 0), 0u);
      EXPECT_NE(reports[0].bytes.find("\"organization-name\": \"Google Inc.\""), std::string::npos);
    }
  }
}

TEST(ReportMail, LfLineEndingsAsAnMtaPipeDeliversThem) {
  // Postfix's pipe(8) and procmail hand over LF-only messages.
  std::string mail = fixture("microsoft.eml");
  for (size_t at; (at = mail.find("\r\n")) != std::string::npos;) mail.erase(at, 1);
  const auto reports = extract_reports(mail);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].bytes, fixture("microsoft.json.gz"));
}

TEST(ReportMail, TwoReportPartsAreBothReturned) {
  const std::string gz = fixture("google.eml");
  const std::string part = gz.substr(gz.find("--000000000000c1f0a905e4f2b7d3\r\nContent-Type: application"));
  std::string mail = gz.substr(0, gz.rfind("--000000000000c1f0a905e4f2b7d3--")) + part;
  const auto reports = extract_reports(mail);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].bytes, fixture("google.json.gz"));
}

struct Refused {
  std::string mail;  // fixture name, or the message itself when it does not end in .eml
  const char* words;
};

TEST(ReportMail, RefusesWithTheReason) {
  const Refused cases[] = {
    {"plain.eml",          "no application/tlsrpt+gzip or application/tlsrpt+json part: the message is text/plain"},
    {"no-report.eml",      "the message is multipart/mixed with parts text/plain, application/pdf"},
    {"truncated.eml",      "the message is cut short, so its report part may be incomplete"},
    {"wrong-encoding.eml", "the application/tlsrpt+gzip part 'google.com!example.com!1764374400!1764460799!001.json.gz' is not gzip data"},
    {"",                   "the message is empty"},
    {"\r\n\r\n",           "the message is empty"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mail);
    const std::string mail = c.mail.size() > 4 && c.mail.ends_with(".eml") ? fixture(c.mail) : c.mail;
    try {
      extract_reports(mail);
      ADD_FAILURE() << "accepted";
    } catch (const ReportMailError& error) {
      EXPECT_NE(std::string(error.what()).find(c.words), std::string::npos) << error.what();
    }
  }
}

TEST(ReportMail, JsonPartThatIsNotJson) {
  std::string mail = fixture("json.eml");
  mail[mail.find("{\r\n \"organization-name\"")] = '<';
  try {
    extract_reports(mail);
    ADD_FAILURE() << "accepted";
  } catch (const ReportMailError& error) {
    EXPECT_NE(std::string(error.what()).find("is not a JSON object"), std::string::npos) << error.what();
  }
}

TEST(ReportMail, SizeLimits) {
  // The whole message: refused before parsing.
  const std::string huge(kMaxReportMailBytes + 1, 'a');
  EXPECT_THROW(extract_reports(huge), ReportMailError);
  // One part larger than a report may be, decoded: 17 MiB of zeros in base64.
  std::string mail =
      "From: a@example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=b; report-type=tlsrpt\r\n\r\n"
      "--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  const std::string line = std::string(76, 'A') + "\r\n";  // 57 zero bytes a line
  for (size_t decoded = 0; decoded <= kMaxReportPartBytes; decoded += 57) mail += line;
  mail += "--b--\r\n";
  ASSERT_LT(mail.size(), kMaxReportMailBytes);
  try {
    extract_reports(mail);
    ADD_FAILURE() << "accepted";
  } catch (const ReportMailError& error) {
    EXPECT_NE(std::string(error.what()).find("more than the 16777216 a report may have"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace stsctl
