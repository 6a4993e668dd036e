// Over 600 lines on purpose: every command's spec (its help text) and the call it makes
// are in this one file, so that it reads as the reference of the command line; the
// commands' work is elsewhere (commands.cpp, import_batches.cpp, reports_ingest.cpp).
#include "cli.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "csv/import_csv.h"
#include "utc_time.h"

namespace stsctl {
namespace {
constexpr uint64_t kDefaultMaxAge = 604800;  // one week

const std::string kDomainHelp = "DOMAIN is the policy domain (example.com), not the _mta-sts name.";

std::vector<CommandSpec> make_specs() {
  std::vector<CommandSpec> specs;
  specs.push_back({
      "domain add",
      {"DOMAIN"},
      {{"tlsrpt-rua", "URI", true, "publish _smtp._tls.DOMAIN TXT with this report URI (mailto: or https:)"},
       {"vantage", "ADDR", true, "address (ADDR or ADDR:PORT) the confirmer fetches the policy from"}},
      "add a domain to the store",
      "Adds DOMAIN. Nothing is published for it until a policy version is staged and\n"
      "confirmed. " +
          kDomainHelp,
      {"stsctl domain add example.com --tlsrpt-rua mailto:tls-reports@example.com"},
  });
  specs.push_back({
      "domain list",
      {},
      {},
      "list the domains with their staged and confirmed versions",
      "Lists every domain, sorted by name, fetched page by page.",
      {"stsctl domain list", "stsctl domain list --json"},
  });
  specs.push_back({
      "domain remove",
      {"DOMAIN"},
      {{"force", "", false, "remove even though senders may still hold its policy (recorded in the event log)"}},
      "remove a domain (its records disappear at once)",
      "Removes DOMAIN, its versions and its pointers; its DNS records stop at once.\n"
      "Refused while a sender may still hold a policy of it other than `none`: its\n"
      "confirmed policy is enforce or testing, or an earlier one is not expired yet.\n"
      "Senders keep applying a cached policy for its max_age after the records go\n"
      "(RFC 8461 §8.3): use `domain retire` instead, which removes the records when\n"
      "that is safe. --force removes at once anyway.",
      {"stsctl domain remove example.com", "stsctl domain remove example.com --force"},
  });
  specs.push_back({
      "domain retire",
      {"DOMAIN"},
      {{"reason", "TEXT", false, "why (recorded in the event log)"}},
      "retire MTA-STS safely: publish mode none, then remove the records",
      "RFC 8461 §8.3. Stages a `mode: none` policy with the confirmed policy's mx\n"
      "lines and max_age 86400. It is confirmed like any version (by the confirmer, or\n"
      "with `policy confirm`); the id then moves and senders fetch `none`. The records\n"
      "are removed once every policy a sender may have cached has expired: for each\n"
      "earlier version, the moment a newer one was confirmed plus its max_age.\n"
      "`status` shows when. Staging a policy other than `none`, or `domain unretire`,\n"
      "cancels the retirement.",
      {"stsctl domain retire example.com --reason 'customer left'"},
  });
  specs.push_back({
      "domain unretire",
      {"DOMAIN"},
      {},
      "cancel a retirement (the records stay)",
      "Cancels `domain retire`: the records are not removed. The versions stay as they\n"
      "are (a confirmed `none` policy stays published until you stage another one).",
      {"stsctl domain unretire example.com"},
  });
  specs.push_back({
      "domain set",
      {"DOMAIN"},
      {{"tlsrpt-rua", "URI", true, "replace the TLS-RPT report URIs"},
       {"no-tlsrpt-rua", "", false, "stop publishing the TLS-RPT record"},
       {"vantage", "ADDR", true, "replace the confirmer's vantage addresses"},
       {"no-vantage", "", false, "use the default vantages (resolve mta-sts.DOMAIN)"}},
      "change a domain's settings (TLS-RPT URIs, vantages)",
      "Changes only the settings named on the command line.",
      {"stsctl domain set example.com --tlsrpt-rua mailto:tls@example.com --tlsrpt-rua https://rpt.example.net/v1"},
  });
  specs.push_back({
      "policy stage",
      {"DOMAIN"},
      {{"mode", "MODE", false, "enforce, testing or none"},
       {"mx", "PATTERN", true, "an MX host name or *.parent (one label); repeat for each"},
       {"max-age", "SECONDS", false, "how long senders cache the policy (default 604800, a week; at most 31557600)"},
       {"policy-file", "FILE", false, "take the policy from FILE (RFC 8461 §3.2 format) instead"},
       {"force", "", false,
        "stage even if the server's checks object (e.g. an enforce policy not covering every MX host)"}},
      "stage a new policy version (the served id does not move yet)",
      "Stores a new numbered version and prints its number and any warnings. Senders\n"
      "keep getting the confirmed version until the new one is confirmed (by the\n"
      "confirmer, or by hand with `policy confirm`).",
      {"stsctl policy stage example.com --mode enforce --mx mx1.example.com --mx '*.mail.example.com' --max-age 604800",
       "stsctl policy stage example.com --policy-file mta-sts.txt"},
  });
  specs.push_back({
      "policy confirm",
      {"DOMAIN"},
      {{"version", "N", false, "the staged version that is now served at https://mta-sts.DOMAIN/"},
       {"reason", "TEXT", false, "why you know it is served (recorded in the event log)"},
       {"force", "", false, "confirm even though the confirmer last saw a vantage serve something else"}},
      "confirm by hand that a version is published (moves the id)",
      "Records that version N is served everywhere senders fetch it, so the TXT id\n"
      "follows it. Logged as a manual confirmation with your reason. Confirm only what\n"
      "you have checked: a sender that fetches too early caches the old file under\n"
      "the new id. Refused while the confirmer's last round saw a vantage serve\n"
      "something else (it names the vantage); --force overrides, and the event log\n"
      "records what was forced past.",
      {"stsctl policy confirm example.com --version 3 --reason 'deployed to all CDN edges, checked with curl'"},
  });
  specs.push_back({
      "policy show",
      {"DOMAIN"},
      {{"version", "N", false, "a specific version (default: the confirmed one, else the newest staged)"}},
      "print a policy version as stsd renders it",
      "Prints the policy file exactly as it must be served (CRLF line endings).",
      {"stsctl policy show example.com", "stsctl policy show example.com --version 2 > mta-sts.txt"},
  });
  specs.push_back({
      "status",
      {"DOMAIN"},
      {{"events", "N", false, "how many recent events to show (default 10)"}},
      "staged and confirmed versions, the id served now, next rotation, recent events",
      "Shows what senders see now and what is waiting for confirmation.",
      {"stsctl status example.com", "stsctl status example.com --json"},
  });
  specs.push_back({
      "check",
      {"DOMAIN"},
      {},
      "check what the world sees: TXT, policy per vantage, certificates, MX coverage, TLS-RPT",
      "Asks the confirmer (the `confirm:` service) to resolve and fetch everything now and\n"
      "report in plain words: the _mta-sts TXT record as resolvers see it, the policy file\n"
      "and certificate from each vantage, whether every MX host is covered by the\n"
      "confirmed and staged policies, the TLS-RPT record, and from when a new MX host\n"
      "matching each pattern is safe to add (with secondaries, after their worst\n"
      "transfer lag too). Exits 1 when it finds a problem.",
      {"stsctl check example.com", "stsctl check example.com --json"},
  });
  specs.push_back({
      "events",
      {"DOMAIN"},
      {{"limit", "N", false, "how many of the newest events (default 50)"}},
      "the domain's event log (staged, confirmed, removed...)",
      "Prints the newest events of the append-only log, oldest first.",
      {"stsctl events example.com --limit 20"},
  });
  specs.push_back({
      "import",
      {"FILE.csv"},
      {{"confirm-now", "", false, "also confirm every version it stages (files known to be served)"},
       {"reason", "TEXT", false, "reason recorded with --confirm-now"},
       {"batch-size", "N", false, "rows per request, the all-or-nothing unit (default 20000, at most 50000)"}},
      "add domains and stage their policies from a CSV file",
      "Reads a CSV file (RFC 4180) whose header is domain,mode,mx,max_age[,tlsrpt_rua];\n"
      "mx patterns (and rua URIs) are separated by spaces within their field. The file\n"
      "is streamed twice: first every row is checked by the server without writing\n"
      "anything, and only if every row is valid is it applied, in requests of\n"
      "--batch-size rows, each applied whole or not at all. A row whose domain exists\n"
      "stages a version only if its policy differs from the newest one. Errors name\n"
      "the line of the file.",
      {"stsctl import domains.csv", "stsctl import migrated.csv --confirm-now --reason 'migrated from provider X'"},
  });
  specs.push_back({
      "backup",
      {"DIR"},
      {},
      "a consistent copy of the store into the new folder DIR, while stsd serves",
      "stsd writes a complete store folder to DIR (a path on stsd's host; a relative one\n"
      "is taken from the working directory). DIR must not exist, or be an empty folder.\n"
      "Restoring: stop stsd, put DIR in place of the storage: folder, start (docs/backups.md).",
      {"stsctl backup /var/lib/stsd/backups/$(date +%F)"},
  });
  specs.push_back({
      "reports ingest",
      {},
      {{"maildir", "DIR", false, "ingest every message of the maildir DIR not yet seen, instead of stdin"}},
      "hand a TLS-RPT report mail (stdin) or a maildir to stsd",
      "Reads one RFC 5322 message on stdin, takes its application/tlsrpt+gzip (or +json)\n"
      "part (RFC 8460 §5.3) and sends it to stsd, which checks, attributes and stores\n"
      "it. With --maildir, every message in DIR/new and every message in DIR/cur not\n"
      "flagged seen is ingested once; each one stored (or already stored) is moved to\n"
      "DIR/cur with the S flag, each refused one is named and left where it is.\n"
      "Exit status (sysexits, for an MTA pipe transport): 0 stored or already stored,\n"
      "65 the message or report was refused (EX_DATAERR, no retry helps), 75 stsd\n"
      "could not take it now (EX_TEMPFAIL: unreachable, no report intake, store\n"
      "refusing writes; the MTA retries), 2 usage error.",
      {"stsctl reports ingest < report.eml", "stsctl --config /etc/stsd/stsd.yaml reports ingest --maildir ~/Maildir/.tlsrpt"},
  });
  specs.push_back({
      "reports",
      {"[DOMAIN]"},
      {{"since", "DATE", false, "only days from DATE (YYYY-MM-DD, UTC) on (default: the server's retention)"},
       {"stale", "", false, "every domain that senders applied an outdated policy version of (no DOMAIN)"}},
      "TLS-RPT reports: sessions, failures by type, stale policy versions by reporter",
      "Shows what the senders' TLS-RPT reports (RFC 8460) say about DOMAIN: sessions\n"
      "that succeeded and failed, failures by result type, and the reporters that\n"
      "applied a policy version older than the one confirmed before the report's\n"
      "start (a stale cache in the wild), with the versions and session counts.\n"
      "--stale lists these across all domains.",
      {"stsctl reports example.com --since 2026-11-01", "stsctl reports --stale", "stsctl reports example.com --json"},
  });
  specs.push_back({
      "version",
      {},
      {},
      "print stsctl's version and the server's",
      "Prints stsctl's version and asks the server for its own.",
      {"stsctl version"},
  });
  return specs;
}

std::vector<OptionSpec> make_global_specs() {
  return {
      {"socket", "PATH", false, "the admin socket of stsd (default: $STSD_SOCKET, else var/stsd.sock)"},
      {"config", "FILE", false, "read the admin socket from stsd's config file (admin.socket)"},
      {"connect", "HOST:PORT", false, "use the TCP admin listener instead of the socket"},
      {"token-file", "FILE", false, "bearer token for --connect (admin.token_file of the server)"},
      {"json", "", false, "print the server's JSON instead of plain words"},
      {"help", "", false, "show help (also: stsctl help COMMAND, stsctl COMMAND --help)"},
  };
}

const OptionSpec* find_option(const std::vector<OptionSpec>& specs, const std::string& name) {
  for (const auto& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool valid_domain_argument(const std::string& domain) {
  // Loose shape check only; the server validates names fully. It catches the usual
  // slips: a URL, an email address, an _mta-sts owner name or an option typo.
  if (domain.empty() || domain.size() > 253 + 1) return false;
  return std::all_of(domain.begin(), domain.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_'; });
}

std::string require_domain(const Invocation& invocation) {
  const std::string& domain = invocation.arguments.at(0);
  if (!valid_domain_argument(domain)) {
    throw UsageError("'" + domain + "' is not a domain name (expected e.g. example.com)", invocation.command->name);
  }
  if (domain.rfind("_mta-sts.", 0) == 0) {
    throw UsageError("give the policy domain, not the _mta-sts name: '" + domain.substr(9) + "'",
                     invocation.command->name);
  }
  return domain;
}

std::string domain_path(const std::string& domain) { return "/v1/domains/" + percent_encode(domain); }

std::string read_policy_file(const std::string& path, const std::string& command) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("--policy-file: cannot open '" + path + "'", command);
  // RFC 8461 §3.3: senders read at most 64 KiB; anything larger is not a policy.
  constexpr size_t limit = 64 * 1024;
  std::string text(limit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > limit) throw UsageError("--policy-file: '" + path + "' is larger than 64 KiB", command);
  return text;
}

// YYYY-MM-DD, a real calendar day.
bool valid_date(const std::string& text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  const auto number = [&](size_t at, size_t length) { return std::stoul(text.substr(at, length)); };
  const unsigned month = static_cast<unsigned>(number(5, 2)), day = static_cast<unsigned>(number(8, 2));
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  // A day past the month's end carries over into the next month.
  const auto fields = stsd::utc_fields(stsd::unix_seconds_of(static_cast<int64_t>(number(0, 4)), month, day, 0, 0, 0));
  return fields.month == month && fields.day == day;
}

ApiCall reports_api_call(const Invocation& invocation) {
  const std::string& name = invocation.command->name;
  if (invocation.has("stale")) {
    if (!invocation.arguments.empty()) throw UsageError("--stale lists every domain; give no DOMAIN with it", name);
    if (invocation.has("since")) throw UsageError("--since goes with a DOMAIN, not with --stale", name);
    return {"GET", "/v1/reports?stale=true", std::nullopt};
  }
  if (invocation.arguments.empty()) throw UsageError("reports needs DOMAIN (or --stale for every domain)", name);
  std::string target = "/v1/reports?domain=" + percent_encode(require_domain(invocation));
  if (auto since = invocation.value("since")) {
    if (!valid_date(*since)) throw UsageError("--since: '" + *since + "' is not a date (YYYY-MM-DD)", name);
    target += "&since=" + *since;
  }
  return {"GET", target, std::nullopt};
}

}  // namespace

const std::vector<CommandSpec>& command_specs() {
  static const std::vector<CommandSpec> specs = make_specs();
  return specs;
}

const std::vector<OptionSpec>& global_option_specs() {
  static const std::vector<OptionSpec> specs = make_global_specs();
  return specs;
}

const std::vector<std::string>& Invocation::values(const std::string& name) const {
  static const std::vector<std::string> none;
  auto it = options.find(name);
  return it == options.end() ? none : it->second;
}

std::optional<std::string> Invocation::value(const std::string& name) const {
  auto it = options.find(name);
  if (it == options.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

Invocation parse_command_line(const std::vector<std::string>& args) {
  Invocation invocation;
  std::vector<std::string> words;  // non-option tokens: command words, then positionals
  std::vector<std::pair<std::string, std::string>> command_options;  // name, value
  bool only_positionals = false;

  // `--version` alone prints the version; elsewhere it is the option of `policy confirm`
  // and `policy show`.
  if (args.size() == 1 && args[0] == "--version") {
    invocation.version = true;
    return invocation;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positionals || arg.size() < 2 || arg[0] != '-' || arg == "-") {
      words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    if (arg == "-h") {
      invocation.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) throw UsageError("unknown option '" + arg + "' (options start with --)");
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto take_value = [&](const std::string& value_name) -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError("--" + name + " needs a value (" + value_name + ")");
      return args[++i];
    };
    if (const OptionSpec* global = find_option(global_option_specs(), name)) {
      if (global->value_name.empty()) {
        if (inline_value) throw UsageError("--" + name + " takes no value");
        if (name == "json") invocation.json = true;
        if (name == "help") invocation.help = true;
        continue;
      }
      std::string value = take_value(global->value_name);
      if (value.empty()) throw UsageError("--" + name + " needs a non-empty value (" + global->value_name + ")");
      if (name == "socket") invocation.server.socket = value;
      if (name == "config") invocation.server.config = value;
      if (name == "connect") invocation.server.connect = value;
      if (name == "token-file") invocation.server.token_file = value;
      continue;
    }
    // A command option: its value (if any) is known only once the command is; the
    // next token is taken as the value when the option is not a known flag.
    bool is_flag = false;
    for (const auto& spec : command_specs()) {
      if (const OptionSpec* option = find_option(spec.options, name); option && option->value_name.empty()) {
        is_flag = true;
      }
    }
    std::string value;
    if (!is_flag) {
      value = take_value("a value");
    } else if (inline_value) {
      throw UsageError("--" + name + " takes no value");
    }
    command_options.emplace_back(name, value);
  }

  // `help [COMMAND...]` is the same as `COMMAND --help`.
  if (!words.empty() && words.front() == "help") {
    invocation.help = true;
    words.erase(words.begin());
  }
  if (words.empty()) {
    if (!invocation.help && !invocation.version) throw UsageError("no command given");
    if (!command_options.empty()) throw UsageError("--" + command_options.front().first + " needs a command");
    return invocation;
  }

  // The longest command name that the leading words spell.
  size_t used_words = 0;
  for (const auto& spec : command_specs()) {
    std::istringstream name_words(spec.name);
    std::string part;
    size_t count = 0;
    bool match = true;
    while (name_words >> part) {
      if (count >= words.size() || words[count] != part) {
        match = false;
        break;
      }
      ++count;
    }
    if (match && count > used_words) {
      invocation.command = &spec;
      used_words = count;
    }
  }
  if (invocation.command == nullptr) {
    // "domain" alone or "domain frobnicate": say which subcommands exist.
    std::string known;
    for (const auto& spec : command_specs()) {
      if (spec.name.rfind(words.front() + " ", 0) == 0) known += (known.empty() ? "" : ", ") + spec.name;
    }
    if (!known.empty()) {
      if (words.size() == 1) throw UsageError("'" + words.front() + "' needs a subcommand: " + known);
      throw UsageError("unknown command '" + words[0] + " " + words[1] + "'; known: " + known);
    }
    throw UsageError("unknown command '" + words.front() + "' (see stsctl --help)");
  }
  const CommandSpec& command = *invocation.command;
  if (invocation.help) return invocation;

  invocation.arguments.assign(words.begin() + static_cast<std::ptrdiff_t>(used_words), words.end());
  // A positional written "[NAME]" in the spec may be left out (only trailing ones are).
  const auto required = static_cast<size_t>(std::count_if(command.positionals.begin(), command.positionals.end(),
                                                          [](const std::string& p) { return p.front() != '['; }));
  if (invocation.arguments.size() < required) {
    throw UsageError(command.name + " needs " + command.positionals[invocation.arguments.size()], command.name);
  }
  if (invocation.arguments.size() > command.positionals.size()) {
    throw UsageError("unexpected argument '" + invocation.arguments[command.positionals.size()] + "'", command.name);
  }
  for (const auto& [name, value] : command_options) {
    const OptionSpec* option = find_option(command.options, name);
    if (option == nullptr) throw UsageError(command.name + " has no option --" + name, command.name);
    auto& values = invocation.options[name];
    if (!values.empty() && !option->repeatable) {
      throw UsageError("--" + name + " given twice", command.name);
    }
    if (!option->value_name.empty() && value.empty()) {
      throw UsageError("--" + name + " needs a non-empty value (" + option->value_name + ")", command.name);
    }
    values.push_back(value);
  }
  return invocation;
}

uint64_t parse_number_option(const std::string& option, const std::string& text, const std::string& command,
                             uint64_t min, uint64_t max) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw UsageError("--" + option + ": '" + text + "' is not a whole number", command);
  }
  if (value < min || value > max) {
    throw UsageError(
        "--" + option + ": " + text + " is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")",
        command);
  }
  return value;
}

std::string percent_encode(const std::string& segment) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

ApiCall build_api_call(const Invocation& invocation) {
  if (invocation.command == nullptr) throw UsageError("no command given");
  const std::string& name = invocation.command->name;

  if (name == "domain add") {
    std::string domain = require_domain(invocation);
    nlohmann::json body = {{"domain", domain}};
    if (invocation.has("tlsrpt-rua")) body["tlsrpt_rua"] = invocation.values("tlsrpt-rua");
    if (invocation.has("vantage")) body["vantages"] = invocation.values("vantage");
    return {"POST", "/v1/domains", body};
  }
  if (name == "domain list") return {"GET", "/v1/domains", std::nullopt};
  if (name == "domain remove") {
    const std::string path = domain_path(require_domain(invocation));
    return {"DELETE", invocation.has("force") ? path + "?force=true" : path, std::nullopt};
  }
  if (name == "domain retire") {
    const std::string path = domain_path(require_domain(invocation)) + "/retirement";
    if (auto reason = invocation.value("reason")) return {"POST", path, nlohmann::json{{"reason", *reason}}};
    return {"POST", path, std::nullopt};
  }
  if (name == "domain unretire")
    return {"DELETE", domain_path(require_domain(invocation)) + "/retirement", std::nullopt};
  if (name == "domain set") {
    std::string domain = require_domain(invocation);
    nlohmann::json body = nlohmann::json::object();
    if (invocation.has("tlsrpt-rua") && invocation.has("no-tlsrpt-rua")) {
      throw UsageError("--tlsrpt-rua and --no-tlsrpt-rua contradict each other", name);
    }
    if (invocation.has("vantage") && invocation.has("no-vantage")) {
      throw UsageError("--vantage and --no-vantage contradict each other", name);
    }
    if (invocation.has("tlsrpt-rua")) body["tlsrpt_rua"] = invocation.values("tlsrpt-rua");
    if (invocation.has("no-tlsrpt-rua")) body["tlsrpt_rua"] = nlohmann::json::array();
    if (invocation.has("vantage")) body["vantages"] = invocation.values("vantage");
    if (invocation.has("no-vantage")) body["vantages"] = nlohmann::json::array();
    if (body.empty()) {
      throw UsageError("nothing to change; give --tlsrpt-rua, --no-tlsrpt-rua, --vantage or --no-vantage", name);
    }
    return {"PUT", domain_path(domain) + "/settings", body};
  }
  if (name == "policy stage") {
    std::string domain = require_domain(invocation);
    bool fields = invocation.has("mode") || invocation.has("mx") || invocation.has("max-age");
    if (invocation.has("policy-file")) {
      if (fields) throw UsageError("give either --policy-file or --mode/--mx/--max-age, not both", name);
      nlohmann::json body = {{"text", read_policy_file(*invocation.value("policy-file"), name)}};
      if (invocation.has("force")) body["force"] = true;
      return {"POST", domain_path(domain) + "/policies", body};
    }
    if (!invocation.has("mode"))
      throw UsageError("--mode is required (enforce, testing or none), or --policy-file", name);
    nlohmann::json body = {
        {"mode", *invocation.value("mode")},
        {"mx", invocation.values("mx")},
        // A week unless given: long enough to protect, while the daily id rotation keeps
        // senders fresh (RFC 8461 §3.2 suggests weeks or more).
        {"max_age", invocation.has("max-age") ? parse_number_option("max-age", *invocation.value("max-age"), name)
                                              : kDefaultMaxAge},
    };
    if (invocation.has("force")) body["force"] = true;
    return {"POST", domain_path(domain) + "/policies", body};
  }
  if (name == "policy confirm") {
    std::string domain = require_domain(invocation);
    if (!invocation.has("version")) throw UsageError("--version is required (the staged version to confirm)", name);
    if (!invocation.has("reason")) throw UsageError("--reason is required (it is recorded in the event log)", name);
    nlohmann::json body = {
        {"version", parse_number_option("version", *invocation.value("version"), name, 1)},
        {"reason", *invocation.value("reason")},
    };
    if (invocation.has("force")) body["force"] = true;
    return {"POST", domain_path(domain) + "/confirm", body};
  }
  if (name == "policy show") {
    std::string domain = require_domain(invocation);
    if (auto version = invocation.value("version")) {
      return {"GET",
              domain_path(domain) + "/policies/" + std::to_string(parse_number_option("version", *version, name, 1)),
              std::nullopt};
    }
    return {"GET", domain_path(domain) + "/policy", std::nullopt};
  }
  if (name == "status") {
    std::string domain = require_domain(invocation);
    uint64_t events = 10;
    if (auto text = invocation.value("events")) events = parse_number_option("events", *text, name, 0, 1000);
    return {"GET", domain_path(domain) + "/status?events=" + std::to_string(events), std::nullopt};
  }
  if (name == "events") {
    std::string domain = require_domain(invocation);
    uint64_t limit = 50;
    if (auto text = invocation.value("limit")) limit = parse_number_option("limit", *text, name, 1, 10000);
    return {"GET", domain_path(domain) + "/events?limit=" + std::to_string(limit), std::nullopt};
  }
  if (name == "check") return {"GET", domain_path(require_domain(invocation)) + "/check", std::nullopt};
  if (name == "reports") return reports_api_call(invocation);
  if (name == "version") return {"GET", "/v1/server", std::nullopt};
  if (name == "backup") {
    if (invocation.arguments.at(0).empty()) throw UsageError("DIR is empty: give the folder to write the backup to", name);
    const std::string dir = std::filesystem::absolute(invocation.arguments.at(0)).lexically_normal().string();
    return {"POST", "/v1/backup", nlohmann::json{{"dir", dir}}};
  }
  throw UsageError("'" + name + "' is not a single API call");
}

ImportOptions import_options(const Invocation& invocation) {
  const std::string& name = invocation.command->name;
  ImportOptions options;
  options.file = invocation.arguments.at(0);
  options.confirm_now = invocation.has("confirm-now");
  if (auto reason = invocation.value("reason")) options.reason = *reason;
  if (options.confirm_now && options.reason.empty()) {
    throw UsageError("--confirm-now needs --reason TEXT (it is recorded with every confirmation)", name);
  }
  if (!options.confirm_now && !options.reason.empty())
    throw UsageError("--reason is only used with --confirm-now", name);
  if (auto size = invocation.value("batch-size")) {
    options.batch_size = parse_number_option("batch-size", *size, name, 1, stsd::csv::kMaxRowsPerImportRequest);
  }
  return options;
}

std::string overview_help() {
  std::ostringstream out;
  out << "stsctl: manage the MTA-STS policies that stsd publishes\n\n"
         "Usage: stsctl [--socket PATH | --config FILE | --connect HOST:PORT] [--json] COMMAND ...\n\n"
         "Commands:\n";
  for (const auto& spec : command_specs()) {
    std::string usage = spec.name;
    for (const auto& positional : spec.positionals) usage += " " + positional;
    out << "  " << usage << std::string(usage.size() < 30 ? 30 - usage.size() : 1, ' ') << spec.summary << "\n";
  }
  out << "\nGlobal options:\n";
  for (const auto& option : global_option_specs()) {
    std::string usage = "--" + option.name + (option.value_name.empty() ? "" : " " + option.value_name);
    out << "  " << usage << std::string(usage.size() < 30 ? 30 - usage.size() : 1, ' ') << option.help << "\n";
  }
  out << "\nExit status: 0 done, 1 the server refused (or could not be reached), 2 usage error.\n"
         "Run `stsctl COMMAND --help` for a command's options and examples.\n";
  return out.str();
}

std::string command_help(const CommandSpec& spec) {
  std::ostringstream out;
  out << "Usage: stsctl " << spec.name;
  for (const auto& positional : spec.positionals) out << " " << positional;
  for (const auto& option : spec.options) {
    out << " [--" << option.name << (option.value_name.empty() ? "" : " " + option.value_name) << "]"
        << (option.repeatable ? "..." : "");
  }
  out << "\n\n" << spec.details << "\n";
  if (!spec.options.empty()) {
    out << "\nOptions:\n";
    for (const auto& option : spec.options) {
      std::string usage = "--" + option.name + (option.value_name.empty() ? "" : " " + option.value_name);
      out << "  " << usage << std::string(usage.size() < 24 ? 24 - usage.size() : 1, ' ') << option.help
          << (option.repeatable ? " (repeatable)" : "") << "\n";
    }
  }
  if (!spec.examples.empty()) {
    out << "\nExamples:\n";
    for (const auto& example : spec.examples) out << "  " << example << "\n";
  }
  out << "\nAlso: --json, --socket PATH, --config FILE, --connect HOST:PORT (see stsctl --help).\n";
  return out.str();
}

}  // namespace stsctl
