// stsctl command lines: what API call each one makes, and the usage errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli.h"
#include "commands.h"
#include "retirement_text.h"
#include "temp_dir.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsctl {
namespace {

using nlohmann::json;

std::vector<std::string> words(const std::string& line) {
  // Splits on spaces; single quotes group words (enough for these tables).
  std::vector<std::string> out;
  std::string current;
  bool quoted = false;
  bool any = false;
  for (char c : line) {
    if (c == '\'') {
      quoted = !quoted;
      any = true;
    } else if (c == ' ' && !quoted) {
      if (any) out.push_back(current);
      current.clear();
      any = false;
    } else {
      current.push_back(c);
      any = true;
    }
  }
  if (any) out.push_back(current);
  return out;
}

ApiCall call_for(const std::string& line) { return build_api_call(parse_command_line(words(line))); }

struct CallCase {
  const char* name;
  std::string command_line;
  ApiCall expected;
};
void PrintTo(const CallCase& c, std::ostream* os) { *os << c.name; }

class CommandCalls : public testing::TestWithParam<CallCase> {};

TEST_P(CommandCalls, MakeTheDocumentedApiCall) {
  const auto& c = GetParam();
  ApiCall call = call_for(c.command_line);
  EXPECT_EQ(call.method, c.expected.method);
  EXPECT_EQ(call.target, c.expected.target);
  EXPECT_EQ(call.body, c.expected.body) << (call.body ? call.body->dump() : "no body");
}

INSTANTIATE_TEST_SUITE_P(
    Stsctl, CommandCalls,
    testing::Values(
        CallCase{"domain_add", "domain add example.com", {"POST", "/v1/domains", json{{"domain", "example.com"}}}},
        CallCase{"domain_add_with_tlsrpt_and_vantages",
                 "domain add example.com --tlsrpt-rua mailto:tls@example.com --tlsrpt-rua=https://r.example.net/ "
                 "--vantage 192.0.2.7 --vantage 192.0.2.8:8443",
                 {"POST", "/v1/domains",
                  json{{"domain", "example.com"},
                       {"tlsrpt_rua", {"mailto:tls@example.com", "https://r.example.net/"}},
                       {"vantages", {"192.0.2.7", "192.0.2.8:8443"}}}}},
        CallCase{"domain_list", "domain list", {"GET", "/v1/domains", std::nullopt}},
        CallCase{"domain_remove", "domain remove example.com", {"DELETE", "/v1/domains/example.com", std::nullopt}},
        CallCase{"domain_remove_forced", "domain remove example.com --force", {"DELETE", "/v1/domains/example.com?force=true", std::nullopt}},
        CallCase{"domain_retire", "domain retire example.com", {"POST", "/v1/domains/example.com/retirement", std::nullopt}},
        CallCase{"domain_retire_with_reason", "domain retire example.com --reason 'customer left'",
                 {"POST", "/v1/domains/example.com/retirement", json{{"reason", "customer left"}}}},
        CallCase{"domain_unretire", "domain unretire example.com", {"DELETE", "/v1/domains/example.com/retirement", std::nullopt}},
        CallCase{"domain_set_clears_rua", "domain set example.com --no-tlsrpt-rua",
                 {"PUT", "/v1/domains/example.com/settings", json{{"tlsrpt_rua", json::array()}}}},
        CallCase{"policy_stage_from_flags",
                 "policy stage example.com --mode enforce --mx mx1.example.com --mx '*.mail.example.com' --max-age 604800",
                 {"POST", "/v1/domains/example.com/policies",
                  json{{"mode", "enforce"}, {"mx", {"mx1.example.com", "*.mail.example.com"}}, {"max_age", 604800}}}},
        CallCase{"policy_stage_mode_none_without_mx", "policy stage example.com --mode none --max-age 86400",
                 {"POST", "/v1/domains/example.com/policies",
                  json{{"mode", "none"}, {"mx", json::array()}, {"max_age", 86400}}}},
        CallCase{"options_before_the_domain", "policy stage --max-age 60 --mode testing example.com --mx m.example.com",
                 {"POST", "/v1/domains/example.com/policies",
                  json{{"mode", "testing"}, {"mx", {"m.example.com"}}, {"max_age", 60}}}},
        CallCase{"policy_stage_forced", "policy stage example.com --mode none --mx m.example.com --max-age 86400 --force",
                 {"POST", "/v1/domains/example.com/policies",
                  json{{"mode", "none"}, {"mx", {"m.example.com"}}, {"max_age", 86400}, {"force", true}}}},
        CallCase{"policy_confirm", "policy confirm example.com --version 3 --reason 'checked all edges'",
                 {"POST", "/v1/domains/example.com/confirm", json{{"version", 3}, {"reason", "checked all edges"}}}},
        CallCase{"policy_show_confirmed", "policy show example.com", {"GET", "/v1/domains/example.com/policy", std::nullopt}},
        CallCase{"policy_show_version", "policy show example.com --version 2",
                 {"GET", "/v1/domains/example.com/policies/2", std::nullopt}},
        CallCase{"status", "status example.com", {"GET", "/v1/domains/example.com/status?events=10", std::nullopt}},
        CallCase{"status_json_anywhere", "--json status example.com --events 3",
                 {"GET", "/v1/domains/example.com/status?events=3", std::nullopt}},
        CallCase{"events", "events example.com --limit 7", {"GET", "/v1/domains/example.com/events?limit=7", std::nullopt}},
        CallCase{"version", "version", {"GET", "/v1/server", std::nullopt}},
        CallCase{"backup", "backup /var/backups/stsd/x", {"POST", "/v1/backup", json{{"dir", "/var/backups/stsd/x"}}}},
        CallCase{"backup_normalized", "backup /var/backups/stsd/x/../y",
                 {"POST", "/v1/backup", json{{"dir", "/var/backups/stsd/y"}}}},
        CallCase{"reports", "reports example.com", {"GET", "/v1/reports?domain=example.com", std::nullopt}},
        CallCase{"reports_since", "reports example.com --since 2026-02-28",
                 {"GET", "/v1/reports?domain=example.com&since=2026-02-28", std::nullopt}},
        CallCase{"reports_stale", "reports --stale", {"GET", "/v1/reports?stale=true", std::nullopt}}),
    [](const testing::TestParamInfo<CallCase>& info) { return info.param.name; });

struct UsageCase {
  const char* name;
  std::string command_line;
  std::string message_part;
};
void PrintTo(const UsageCase& c, std::ostream* os) { *os << c.name; }

class UsageErrors : public testing::TestWithParam<UsageCase> {};

TEST_P(UsageErrors, AreClearAndNameTheProblem) {
  const auto& c = GetParam();
  try {
    call_for(c.command_line);
    FAIL() << "accepted: " << c.command_line;
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find(c.message_part), std::string::npos)
        << "message: " << error.what() << "\nexpected to contain: " << c.message_part;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Stsctl, UsageErrors,
    testing::Values(
        UsageCase{"no_command", "", "no command given"},
        UsageCase{"unknown_command", "frobnicate", "unknown command 'frobnicate'"},
        UsageCase{"group_without_subcommand", "domain", "'domain' needs a subcommand: domain add"},
        UsageCase{"unknown_subcommand", "policy publish example.com", "unknown command 'policy publish'"},
        UsageCase{"missing_domain", "domain add", "domain add needs DOMAIN"},
        UsageCase{"extra_argument", "domain remove a.example b.example", "unexpected argument 'b.example'"},
        UsageCase{"unknown_option", "domain add example.com --tlsrpt mailto:x@example.com", "has no option --tlsrpt"},
        UsageCase{"single_dash_option", "domain add example.com -x", "unknown option '-x'"},
        UsageCase{"option_without_value", "policy stage example.com --mode", "--mode needs a value"},
        UsageCase{"option_given_twice", "policy stage example.com --mode enforce --mode testing --max-age 1",
                  "--mode given twice"},
        UsageCase{"flag_with_value", "domain set example.com --no-vantage=yes", "--no-vantage takes no value"},
        UsageCase{"url_instead_of_domain", "domain add https://example.com", "is not a domain name"},
        UsageCase{"mta_sts_name_instead_of_domain", "domain add _mta-sts.example.com", "give the policy domain"},
        UsageCase{"stage_without_mode", "policy stage example.com --mx m.example.com --max-age 86400", "--mode is required"},
        UsageCase{"stage_max_age_not_a_number", "policy stage example.com --mode enforce --max-age 1w", "'1w' is not a whole number"},
        UsageCase{"stage_file_and_fields", "policy stage example.com --policy-file p.txt --mode enforce",
                  "either --policy-file or --mode"},
        UsageCase{"stage_missing_file", "policy stage example.com --policy-file /nonexistent/p.txt", "cannot open"},
        UsageCase{"confirm_without_reason", "policy confirm example.com --version 3", "--reason is required"},
        UsageCase{"backup_without_dir", "backup", "DIR"},
        UsageCase{"backup_empty_dir", "backup ''", "DIR is empty"},
        UsageCase{"confirm_without_version", "policy confirm example.com --reason x", "--version is required"},
        UsageCase{"confirm_version_zero", "policy confirm example.com --version 0 --reason x", "out of range"},
        UsageCase{"confirm_version_text", "policy confirm example.com --version latest --reason x", "'latest' is not a whole number"},
        UsageCase{"set_nothing", "domain set example.com", "nothing to change"},
        UsageCase{"retire_has_no_force", "domain retire example.com --force", "domain retire has no option --force"},
        UsageCase{"retire_without_domain", "domain retire", "domain retire needs DOMAIN"},
        UsageCase{"unretire_has_no_reason", "domain unretire example.com --reason x", "domain unretire has no option --reason"},
        UsageCase{"remove_force_takes_no_value", "domain remove example.com --force=yes", "--force takes no value"},
        UsageCase{"set_contradiction", "domain set example.com --vantage 192.0.2.1 --no-vantage", "contradict"},
        UsageCase{"events_limit_zero", "events example.com --limit 0", "out of range"},
        UsageCase{"empty_socket", "--socket '' status example.com", "--socket needs a non-empty value"},
        UsageCase{"reports_without_domain", "reports", "reports needs DOMAIN (or --stale"},
        UsageCase{"reports_stale_with_domain", "reports example.com --stale", "give no DOMAIN with it"},
        UsageCase{"reports_since_not_a_day", "reports example.com --since 2026-02-29", "not a date (YYYY-MM-DD)"},
        UsageCase{"reports_since_shape", "reports example.com --since 1.3.2026", "not a date (YYYY-MM-DD)"},
        UsageCase{"reports_two_domains", "reports a.example b.example", "unexpected argument 'b.example'"},
        UsageCase{"ingest_has_no_domain", "reports ingest example.com", "unexpected argument 'example.com'"}),
    [](const testing::TestParamInfo<UsageCase>& info) { return info.param.name; });

struct RetirementCase {
  const char* name;
  json retirement;
  std::vector<std::string> lines;
};

TEST(RetirementText, StatusSaysWhatItWaitsForOrWhenTheRecordsGo) {
  const json longest = {{"version", 1}, {"max_age", 604800}, {"served_until", "2025-01-01T13:00:00Z"}};
  const std::vector<RetirementCase> cases = {
      {"not retiring", nullptr, {}},
      {"waiting", {{"since", "2025-01-01T12:00:00Z"}, {"reason", "customer left"}, {"version", 2}, {"remove_at", nullptr}, {"longest_cached", nullptr}},
       {"since 2025-01-01T12:00:00Z: customer left", "waiting for version 2 (mode none) to be confirmed; the records stay until then, and go once every policy senders may have cached has expired"}},
      {"scheduled", {{"since", "2025-01-01T12:00:00Z"}, {"reason", ""}, {"version", 2}, {"remove_at", "2025-01-08T13:00:00Z"}, {"longest_cached", longest}},
       {"since 2025-01-01T12:00:00Z", "records removed at 2025-01-08T13:00:00Z: version 1 (max_age 604800) was served until 2025-01-01T13:00:00Z and may be cached until then"}},
      {"nothing cached", {{"since", "2025-01-01T12:00:00Z"}, {"reason", ""}, {"version", 2}, {"remove_at", "2025-01-02T12:00:00Z"}, {"longest_cached", nullptr}},
       {"since 2025-01-01T12:00:00Z", "records removed at 2025-01-02T12:00:00Z: no sender holds an earlier policy any more"}},
      {"due", {{"since", "2024-12-01T12:00:00Z"}, {"reason", ""}, {"version", 2}, {"remove_at", "2025-01-01T12:00:00Z"}, {"longest_cached", longest}},
       {"since 2024-12-01T12:00:00Z", "records removed at 2025-01-01T12:00:00Z (due: they go at the next sweep, within a minute)"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(retirement_lines(json{{"now", "2025-01-01T12:00:00Z"}, {"retirement", c.retirement}}), c.lines);
  }
}

TEST(RetirementText, RetireAndUnretireSayWhatComesNext) {
  const json waiting = {{"domain", "example.com"}, {"now", "2025-01-01T12:00:00Z"},
                        {"retirement", {{"version", 4}, {"remove_at", nullptr}}}};
  EXPECT_EQ(retirement_change_text(true, waiting),
            "retiring example.com: version 4 (mode none) is staged\n"
            "next: once it is served, it is confirmed (by the confirmer, or by hand: stsctl policy confirm example.com "
            "--version 4 --reason ...); the records are removed once every policy senders may have cached has expired "
            "(stsctl status example.com shows when)\n");
  const json cancelled = {{"domain", "example.com"}, {"retirement", nullptr}, {"confirmed", {{"version", 4}, {"mode", "none"}}}};
  EXPECT_EQ(retirement_change_text(false, cancelled),
            "cancelled the retirement of example.com; its records stay\n"
            "it publishes version 4 (mode none): stage the policy it should publish (stsctl policy stage example.com ...)\n");
}

TEST(CommandLine, GlobalOptionsAreFoundAnywhere) {
  auto invocation = parse_command_line(words("status --socket /run/stsd.sock example.com --json"));
  EXPECT_TRUE(invocation.json);
  EXPECT_EQ(invocation.server.socket, "/run/stsd.sock");
  EXPECT_EQ(invocation.arguments, std::vector<std::string>{"example.com"});
}

TEST(CommandLine, DoubleDashEndsOptions) {
  auto invocation = parse_command_line(words("domain remove -- example.com"));
  EXPECT_EQ(invocation.arguments, std::vector<std::string>{"example.com"});
}

TEST(CommandLine, HelpForms) {
  EXPECT_TRUE(parse_command_line(words("--help")).help);
  auto per_command = parse_command_line(words("policy stage --help"));
  EXPECT_TRUE(per_command.help);
  ASSERT_NE(per_command.command, nullptr);
  EXPECT_EQ(per_command.command->name, "policy stage");
  auto help_word = parse_command_line(words("help import"));
  EXPECT_TRUE(help_word.help);
  ASSERT_NE(help_word.command, nullptr);
  EXPECT_EQ(help_word.command->name, "import");
  // Help must not need the command's required arguments.
  EXPECT_NO_THROW(parse_command_line(words("policy confirm -h")));
}

TEST(CommandLine, VersionFlagAloneAndVersionOptionOfConfirm) {
  EXPECT_TRUE(parse_command_line(words("--version")).version);
  auto confirm = parse_command_line(words("policy confirm example.com --version 4 --reason r"));
  EXPECT_FALSE(confirm.version);
  EXPECT_EQ(confirm.value("version"), "4");
}

TEST(CommandLine, PolicyFileIsSentAsText) {
  const stsd::test::TempDir dir("stsctl-cli-policy");
  const auto path = dir.fresh_path("policy.txt");
  {
    std::ofstream out(path, std::ios::binary);
    out << "version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n";
  }
  auto call = call_for("policy stage example.com --policy-file " + path.native());
  ASSERT_TRUE(call.body);
  EXPECT_EQ((*call.body)["text"], "version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n");
  EXPECT_EQ(call.target, "/v1/domains/example.com/policies");
}

TEST(CommandLine, ImportOptions) {
  auto options = import_options(parse_command_line(words("import d.csv --confirm-now --reason 'migrated' --batch-size 100")));
  EXPECT_EQ(options.file, "d.csv");
  EXPECT_TRUE(options.confirm_now);
  EXPECT_EQ(options.reason, "migrated");
  EXPECT_EQ(options.batch_size, 100u);
  EXPECT_THROW(import_options(parse_command_line(words("import d.csv --confirm-now"))), UsageError);
  EXPECT_THROW(import_options(parse_command_line(words("import d.csv --reason x"))), UsageError);
  EXPECT_THROW(import_options(parse_command_line(words("import d.csv --batch-size 0"))), UsageError);
}

TEST(CommandLine, PercentEncodesDomainsInPaths) {
  EXPECT_EQ(percent_encode("example.com"), "example.com");
  EXPECT_EQ(percent_encode("a b/c?"), "a%20b%2Fc%3F");
}

TEST(ServerSelection, OrderAndConflicts) {
  ServerSelection none;
  EXPECT_EQ(resolve_endpoint(none, nullptr).socket, "var/stsd.sock");
  EXPECT_EQ(resolve_endpoint(none, "/run/x.sock").socket, "/run/x.sock");
  ServerSelection socket;
  socket.socket = "/tmp/a.sock";
  EXPECT_EQ(resolve_endpoint(socket, "/run/x.sock").socket, "/tmp/a.sock");
  ServerSelection both = socket;
  both.config = "stsd.yaml";
  EXPECT_THROW(resolve_endpoint(both, nullptr), UsageError);
  ServerSelection token_without_connect;
  token_without_connect.token_file = "t";
  EXPECT_THROW(resolve_endpoint(token_without_connect, nullptr), UsageError);
  ServerSelection connect_without_token;
  connect_without_token.connect = "127.0.0.1:8053";
  EXPECT_THROW(resolve_endpoint(connect_without_token, nullptr), UsageError);
}

TEST(ServerSelection, ConfigFileSocketIsRelativeToTheConfigFolder) {
  const stsd::test::TempDir dir("stsctl-cli-config");
  const auto& folder = dir.path();
  auto write = [&](const std::string& text) {
    std::ofstream(folder / "stsd.yaml") << text;
    ServerSelection selection;
    selection.config = (folder / "stsd.yaml").native();
    return selection;
  };
  EXPECT_EQ(resolve_endpoint(write("storage: db/stsd.db\nadmin: { socket: run/admin.sock }\nservers: []\n"), nullptr).socket,
            (folder / "run/admin.sock").native());
  // No admin key: the socket sits next to the store.
  EXPECT_EQ(resolve_endpoint(write("storage: var/stsd.db\nservers: []\n"), nullptr).socket,
            (folder / "var/stsd.sock").native());
  EXPECT_THROW(resolve_endpoint(write("storage: var/stsd.db\nadmin: { enabled: false }\n"), nullptr), UsageError);
  try {
    resolve_endpoint(write("storage: var/stsd.db\nadmin: { sockett: x }\n"), nullptr);
    FAIL();
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("stsd.yaml:2"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("sockett"), std::string::npos) << error.what();
  }
}

TEST(Run, ExitCodes) {
  std::ostringstream out, err;
  EXPECT_EQ(run({"--help"}, out, err, false), kExitOk);
  EXPECT_NE(out.str().find("policy stage DOMAIN"), std::string::npos);
  out.str("");
  EXPECT_EQ(run({"import", "--help"}, out, err, false), kExitOk);
  EXPECT_NE(out.str().find("domain,mode,mx,max_age[,tlsrpt_rua]"), std::string::npos);
  EXPECT_EQ(run({"domain", "add"}, out, err, false), kExitUsage);
  EXPECT_NE(err.str().find("stsctl domain add --help"), std::string::npos);
  err.str("");
  // A well-formed command with nobody listening: the server could not be reached.
  EXPECT_EQ(run({"--socket", "/nonexistent/stsd.sock", "status", "example.com"}, out, err, false), kExitRefused);
  EXPECT_NE(err.str().find("cannot connect to stsd at socket /nonexistent/stsd.sock"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace stsctl
// clang-format on
