#pragma once
// Command-line parsing for stsctl: argv -> a checked command, and a command -> the admin
// API call it makes. Kept apart from I/O so that tests can run every usage error.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stsctl {

// Exit codes (documented in --help and the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;  // the server said no, or could not be reached
inline constexpr int kExitUsage = 2;    // the command line is wrong

// A mistake on the command line; `command` names the command whose help to suggest.
class UsageError : public std::runtime_error {
 public:
  UsageError(const std::string& message, std::string command = {})
      : std::runtime_error(message), command_(std::move(command)) {}
  const std::string& command() const { return command_; }

 private:
  std::string command_;
};

struct OptionSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // empty: a flag without value
  bool repeatable = false;
  std::string help;
};

struct CommandSpec {
  std::string name;                      // "domain add"
  std::vector<std::string> positionals;  // names, e.g. {"DOMAIN"}
  std::vector<OptionSpec> options;
  std::string summary;  // one line for the overview
  std::string details;  // paragraph(s) for `stsctl <command> --help`
  std::vector<std::string> examples;
};

const std::vector<CommandSpec>& command_specs();
const std::vector<OptionSpec>& global_option_specs();

// How to reach the server. Exactly one way wins, in this order: --socket, --connect,
// --config, $STSD_SOCKET, then var/stsd.sock relative to the working directory.
struct ServerSelection {
  std::optional<std::string> socket;
  std::optional<std::string> config;
  std::optional<std::string> connect;     // HOST:PORT of the TCP listener
  std::optional<std::string> token_file;  // bearer token for --connect
};

struct Invocation {
  ServerSelection server;
  bool json = false;
  bool help = false;                                        // --help / -h / `help [COMMAND]`
  bool version = false;                                     // --version
  const CommandSpec* command = nullptr;                     // null with help: the overview
  std::vector<std::string> arguments;                       // positionals, in the order of the spec
  std::map<std::string, std::vector<std::string>> options;  // name -> values ("" for flags)

  bool has(const std::string& name) const { return options.count(name) != 0; }
  const std::vector<std::string>& values(const std::string& name) const;
  std::optional<std::string> value(const std::string& name) const;
};

// Parses argv (without the program name). Global options may appear anywhere.
// Throws UsageError.
Invocation parse_command_line(const std::vector<std::string>& args);

// The single admin API call behind a command.
struct ApiCall {
  std::string method;
  std::string target;  // path and query, percent-encoded
  std::optional<nlohmann::json> body;
  bool operator==(const ApiCall&) const = default;
};

// Checks the options' values and builds the call (for every command except `import`
// and `domain list`, which make a series of calls). Reads --policy-file. Throws UsageError.
ApiCall build_api_call(const Invocation& invocation);

// Rows per import request by default (the all-or-nothing unit; at most
// stsd::csv::kMaxRowsPerImportRequest).
inline constexpr size_t kDefaultImportBatchRows = 20000;

// Arguments of `import`, checked.
struct ImportOptions {
  std::string file;
  bool confirm_now = false;
  std::string reason;
  size_t batch_size = kDefaultImportBatchRows;
};
ImportOptions import_options(const Invocation& invocation);

// Parses a whole number option ("--version 3"); throws UsageError naming the option.
uint64_t parse_number_option(const std::string& option, const std::string& text, const std::string& command,
                             uint64_t min = 0, uint64_t max = UINT64_MAX);

std::string percent_encode(const std::string& segment);

// Help texts.
std::string overview_help();
std::string command_help(const CommandSpec& spec);

}  // namespace stsctl
