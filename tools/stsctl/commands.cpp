#include "commands.h"

#include <cstdio>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <future>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <algorithm>
#include <sstream>

#include "admin/admin_config.h"
#include "config.h"
#include "import_batches.h"
#include "reports_ingest.h"
#include "reports_text.h"
#include "net/address.h"
#include "retirement_text.h"
#include "status_text.h"
#include "utc_time.h"

#ifndef STSD_VERSION
#define STSD_VERSION "unknown"
#endif

namespace stsctl {
namespace {

using nlohmann::json;
using stsd::csv::CsvError;

// The server refused, with its message (exit code 1).
class Refused : public std::runtime_error {
 public:
  Refused(const std::string& message, json body = nullptr) : std::runtime_error(message), body_(std::move(body)) {}
  const json& body() const { return body_; }

 private:
  json body_;
};

// The answer's JSON; throws Refused unless the status is 2xx.
json expect_ok(const HttpResult& result) {
  if (result.status >= 200 && result.status < 300 && result.body.is_object()) return result.body;
  std::string message;
  if (result.body.is_object() && result.body.contains("error")) {
    message = text_of(result.body["error"]);
  } else {
    message = "stsd answered HTTP " + std::to_string(result.status) + ": " + result.raw.substr(0, 200);
  }
  throw Refused(message, result.body);
}


// The line about the background verification of the store's table files (GET /v1/server
// "store"."checksums"; an older stsd has none).
std::string checksums_text(const json& checksums) {
  if (!checksums.is_object()) return "";
  const std::string state = checksums.value("state", "");
  const auto mib_of = [&](const char* field) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", static_cast<double>(checksums.value(field, uint64_t{0})) / (1 << 20));
    return std::string(text);
  };
  if (state == "verifying")
    return "store: checksums: verifying since " + text_of(checksums["at"]) + " (" +
           text_of(checksums["verified_files"]) + " of " + text_of(checksums["files"]) + " table files, " +
           mib_of("verified_bytes") + " of " + mib_of("bytes") + " MiB)\n";
  if (state == "verified")
    return "store: checksums: verified at " + text_of(checksums["at"]) + " (" + text_of(checksums["files"]) +
           " table files, " + mib_of("bytes") + " MiB)\n";
  if (state == "damaged")
    return "store: checksums: DAMAGED: " + text_of(checksums["file"]) + " (found at " + text_of(checksums["at"]) +
           ")\n";
  return "";
}

// `stsctl version`'s lines about the store (GET /v1/server "store"; an older stsd has none).
std::string store_state_text(const json& store) {
  if (!store.is_object()) return "";
  std::string text = store.value("writable", true) ? "store: accepts writes" : "store: REFUSES WRITES";
  if (store["failed_since"].is_string()) text += " since " + text_of(store["failed_since"]);
  if (store["reason"].is_string()) text += ": " + text_of(store["reason"]);
  if (store["free_bytes"].is_number_unsigned())
    text += " (" + std::to_string(store["free_bytes"].get<uint64_t>() >> 20) + " MiB free, writes need " +
            std::to_string(store.value("min_free_bytes", uint64_t{0}) >> 20) + ")";
  text += "\n";
  if (store["torn_wal"].is_string())
    text += "store: the last start dropped a torn record at the end of the write-ahead log: " +
            text_of(store["torn_wal"]) + "\n";
  text += checksums_text(store["checksums"]);
  return text;
}

std::string domain_state_words(const json& d) {
  const json& staged = d["staged"];
  const json& confirmed = d["confirmed"];
  std::string words;
  if (confirmed.is_number()) {
    words = "confirmed v" + text_of(confirmed);
    if (d["pending"].get<bool>()) words += ", v" + text_of(staged) + " waiting for confirmation";
  } else if (staged.is_number()) {
    words = "v" + text_of(staged) + " staged, nothing confirmed yet (no TXT record)";
  } else {
    words = "no policy staged yet";
  }
  if (d.contains("held") && d["held"].is_boolean() && d["held"].get<bool>()) words += ", id held (drift)";
  return words;
}

void print_warnings(const json& warnings, std::ostream& err, const std::string& prefix = "") {
  if (!warnings.is_array()) return;
  for (const auto& w : warnings) {
    err << "warning: " << prefix;
    if (w.contains("line")) err << "policy line " << text_of(w["line"]) << ": ";
    err << text_of(w["message"]) << "\n";
  }
}

// --- import ----------------------------------------------------------------------------

class Progress {
 public:
  Progress(std::ostream& err, bool interactive) : err_(err), interactive_(interactive) {}

  // `total`: the bytes of the file (checking) or its rows (importing).
  void phase(std::string name, uint64_t total) {
    name_ = std::move(name);
    total_ = total;
    last_ = {};
  }
  // `line`: the file's line reached (the last row of the last request answered); 0: none.
  void update(uint64_t done, uint64_t rows, uint64_t line, bool final = false) {
    auto now = std::chrono::steady_clock::now();
    auto interval = interactive_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
    if (!final && now - last_ < interval) return;
    last_ = now;
    int percent = total_ == 0 ? 100 : static_cast<int>(std::min<uint64_t>(100, done * 100 / total_));
    const std::string reached = line == 0 ? std::string() : ", line " + std::to_string(line);
    if (interactive_) {
      constexpr int width = 30;
      int filled = percent * width / 100;
      err_ << "\r" << name_ << std::string(name_.size() < 9 ? 9 - name_.size() : 0, ' ') << " ["
           << std::string(static_cast<size_t>(filled), '#') << std::string(static_cast<size_t>(width - filled), '.')
           << "] " << std::setw(3) << percent << "% " << rows << " rows" << reached << (final ? "\n" : "")
           << std::flush;
    } else {
      err_ << "import: " << name_ << ": " << rows << " rows" << reached << " (" << percent << "%)"
           << (final ? ", done" : "") << "\n"
           << std::flush;
    }
  }

 private:
  std::ostream& err_;
  bool interactive_;
  std::string name_;
  uint64_t total_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

// What pass 2 of an import has applied so far: whole requests, in the file's order.
struct AppliedRequests {
  uint64_t count = 0;
  uint64_t last_line = 0;  // the last line of the last applied request
  std::string so_far() const {
    if (count == 0) return "nothing was imported";
    return "the first " + (count == 1 ? std::string("request") : std::to_string(count) + " requests") +
           " (lines up to " + std::to_string(last_line) + ") " + (count == 1 ? "was" : "were") +
           " imported; re-running skips those rows as unchanged";
  }
};

// POST /v1/import for one batch (plugins/admin/README.md); with --confirm-now the reason
// goes with both passes, so the first pass checks it too.
HttpResult send_import(AdminClient& client, const ImportBatch& batch, const ImportOptions& options, bool dry_run) {
  ImportRequest request = import_request(batch, options, dry_run);
  return client.request("POST", request.target, std::move(request.body), request.media_type);
}

// Row errors by line; only the first kKeptErrors are kept (a file of bad rows must not
// fill memory), all are counted.
struct RowErrors {
  static constexpr size_t kKeptErrors = 10000;
  std::vector<std::pair<uint64_t, std::string>> kept;
  uint64_t count = 0;
  void add(uint64_t line, std::string message) {
    ++count;
    if (kept.size() < kKeptErrors) kept.emplace_back(line, std::move(message));
  }
  bool empty() const { return count == 0; }
};

// Sends the file batch by batch, in order, reading the next batch while the server works
// on the one sent (the reading thread touches nothing else; its errors surface here).
template <class Send>
void send_batches(const ImportOptions& options, ImportForm form, Send send) {
  ImportBatches batches(options.file, options.batch_size, form);
  auto read_next = [&batches] { return std::async(std::launch::async, [&batches] { return batches.next(); }); };
  for (auto pending = read_next();;) {
    std::optional<ImportBatch> batch = pending.get();
    if (!batch) return;
    pending = read_next();
    send(*batch);
  }
}

// An stsd from before the CSV body answers 415 to it (plugins/admin/http_server.cpp took
// JSON bodies only); such a server takes the same rows as JSON.
class CsvBodyRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Pass 1: the server checks every row, writing nothing. Returns the rows.
uint64_t check_pass(const ImportOptions& options, ImportForm form, AdminClient& client, Progress& progress,
                    uint64_t file_bytes, RowErrors& errors) {
  uint64_t rows = 0;
  progress.phase("checking", file_bytes);
  send_batches(options, form, [&](const ImportBatch& batch) {
    const HttpResult result = send_import(client, batch, options, true);
    if (result.status == 415 && form == ImportForm::Csv && rows == 0) {  // the first request
      throw CsvBodyRefused(result.body.is_object() ? text_of(result.body["error"]) : result.raw.substr(0, 200));
    }
    rows += batch.rows;
    const json answer = expect_ok(result);
    for (const auto& [line, message] : batch.unreadable) errors.add(line, message);
    for (const auto& e : answer["errors"]) {
      errors.add(e["line"].is_number_unsigned() ? e["line"].get<uint64_t>() : 0, text_of(e["error"]));
    }
    const uint64_t listed = answer["errors"].size();
    const uint64_t count = answer.value("error_count", listed);
    if (count > listed) errors.count += count - listed;
    progress.update(batch.bytes_read, rows, batch.last_row_line);
  });
  progress.update(file_bytes, rows, 0, true);
  return rows;
}

// Pass 1 in the form the server takes: CSV, else (once, on a 415 to the first request)
// JSON rows, in which `form` is left for pass 2.
uint64_t check_file(const ImportOptions& options, ImportForm& form, AdminClient& client, Progress& progress,
                    uint64_t file_bytes, RowErrors& errors, std::ostream& err) {
  try {
    return check_pass(options, form, client, progress, file_bytes, errors);
  } catch (const CsvBodyRefused& refused) {
    form = ImportForm::JsonRows;
    err << "import: stsd refused the rows as CSV (HTTP 415: " << refused.what()
        << "): it predates CSV imports; sending them as JSON instead, "
        << rows_per_request(form, options.batch_size) << " rows a request at most\n";
    return check_pass(options, form, client, progress, file_bytes, errors);
  }
}

[[noreturn]] void refuse_bad_rows(const ImportOptions& options, RowErrors& errors, std::ostream& err) {
  constexpr size_t kShownErrors = 50;
  std::stable_sort(errors.kept.begin(), errors.kept.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < errors.kept.size() && i < kShownErrors; ++i) {
    err << options.file << ": " << errors.kept[i].second << "\n";
  }
  if (errors.count > kShownErrors) err << "... and " << errors.count - kShownErrors << " more\n";
  throw Refused(std::to_string(errors.count) + (errors.count == 1 ? " bad row" : " bad rows") + " in " + options.file +
                "; nothing was imported");
}

// Pass 2: apply, request by request; the server applies each request whole or not at
// all (one atomic, durable write).
void apply_file(const ImportOptions& options, ImportForm form, AdminClient& client, Progress& progress,
                uint64_t rows, std::ostream& err, ImportTotals& totals, AppliedRequests& applied,
                std::vector<std::string>& warnings) {
  constexpr size_t kShownWarnings = 20;
  progress.phase("importing", rows);
  send_batches(options, form, [&](const ImportBatch& batch) {
    if (!batch.unreadable.empty()) throw Refused(batch.unreadable.front().second + " (the file changed while importing)");
    HttpResult result = send_import(client, batch, options, false);
    if (result.status >= 300) {
      if (result.body.is_object() && result.body["errors"].is_array()) {
        for (const auto& e : result.body["errors"]) err << options.file << ": " << text_of(e["error"]) << "\n";
      }
      try {
        expect_ok(result);  // throws Refused with the server's message
      } catch (const Refused& refused) {
        throw Refused(std::string(refused.what()) + "; request " + std::to_string(applied.count + 1) + " (lines " +
                          std::to_string(batch.first_row_line) + "-" + std::to_string(batch.last_row_line) +
                          ") applied nothing",
                      refused.body());
      }
    }
    add_applied(result.body, totals, warnings, kShownWarnings);
    ++applied.count;
    applied.last_line = batch.last_row_line;
    progress.update(totals.rows, totals.rows, batch.last_row_line);
  });
  progress.update(rows, totals.rows, 0, true);
}

int run_import(const Invocation& invocation, AdminClient& client, std::ostream& out, std::ostream& err,
               bool interactive) {
  ImportOptions options = import_options(invocation);
  std::error_code size_error;
  uint64_t file_bytes = std::filesystem::file_size(options.file, size_error);
  if (size_error) throw UsageError("import: cannot read '" + options.file + "': " + size_error.message(), "import");

  // Only a file without a single bad row is imported, so a typo on line 900000 does not
  // leave a half-done import.
  Progress progress(err, interactive);
  RowErrors errors;
  uint64_t rows = 0;
  ImportForm form = ImportForm::Csv;
  try {
    rows = check_file(options, form, client, progress, file_bytes, errors, err);
  } catch (const CsvError& error) {
    if (interactive) err << "\n";
    errors.add(error.line(), std::string(error.what()) + " (reading stopped here)");
  } catch (const Refused& refused) {  // the request as such (e.g. the reason)
    if (interactive) err << "\n";
    throw Refused(std::string(refused.what()) + "; nothing was imported", refused.body());
  }
  if (!errors.empty()) refuse_bad_rows(options, errors, err);

  ImportTotals totals;
  std::vector<std::string> warnings;
  AppliedRequests applied;
  try {
    apply_file(options, form, client, progress, rows, err, totals, applied, warnings);
  } catch (const Refused& refused) {
    if (interactive) err << "\n";
    throw Refused(std::string(refused.what()) + "; " + applied.so_far(), refused.body());
  } catch (const CsvError& error) {
    throw Refused(std::string(error.what()) + " (the file changed while importing); " + applied.so_far());
  }
  for (const auto& w : warnings) err << "warning: " << w << "\n";
  if (totals.warnings > warnings.size()) err << "warning: ... and " << totals.warnings - warnings.size() << " more\n";
  const size_t batch_size = rows_per_request(form, options.batch_size);
  if (invocation.json) {
    out << json{{"rows", totals.rows},           {"added", totals.added},         {"staged", totals.staged},
                {"unchanged", totals.unchanged}, {"confirmed", totals.confirmed}, {"warnings", totals.warnings},
                {"requests", applied.count},     {"batch_size", batch_size}}
               .dump()
        << "\n";
  } else {
    out << "imported " << totals.rows << " rows from " << options.file << " in " << applied.count
        << (applied.count == 1 ? " request" : " requests") << " of up to " << batch_size
        << " rows, each applied whole or not at all: " << totals.added << " domains added, " << totals.staged
        << " versions staged, " << totals.unchanged << " unchanged";
    if (options.confirm_now) out << ", " << totals.confirmed << " confirmed";
    out << (totals.warnings ? ", " + std::to_string(totals.warnings) + " warnings" : std::string()) << "\n";
  }
  return kExitOk;
}

int run_domain_list(const Invocation& invocation, AdminClient& client, std::ostream& out) {
  std::string after;
  uint64_t count = 0;
  bool first = true;
  if (invocation.json) out << "{\"domains\":[";
  for (;;) {
    std::string target = "/v1/domains?limit=5000";
    if (!after.empty()) target += "&after=" + percent_encode(after);
    const json page = expect_ok(client.request("GET", target));
    for (const auto& d : page["domains"]) {
      ++count;
      if (invocation.json) {
        out << (first ? "" : ",") << d.dump();
        first = false;
      } else {
        std::string name = text_of(d["domain"]);
        out << name << std::string(name.size() < 32 ? 32 - name.size() : 1, ' ') << domain_state_words(d) << "\n";
      }
    }
    if (!page["next_after"].is_string()) break;
    after = page["next_after"].get<std::string>();
  }
  if (invocation.json) {
    out << "]}\n";
  } else {
    out << count << (count == 1 ? " domain\n" : " domains\n");
  }
  return kExitOk;
}

int run_single(const Invocation& invocation, AdminClient& client, std::ostream& out, std::ostream& err) {
  const std::string& name = invocation.command->name;
  ApiCall call = build_api_call(invocation);
  const json body = expect_ok(client.request(call.method, call.target, call.body));
  if (invocation.json) {
    json shown = body;
    if (name == "check") {
      if (auto reports = fetch_domain_reports(client, invocation.arguments.at(0))) shown["tlsrpt_reports"] = *reports;
    }
    out << shown.dump(2) << "\n";
    if (name == "policy stage") print_warnings(body["warnings"], err);
    if (name == "check") return body.value("ok", false) ? kExitOk : kExitRefused;  // problems found
    return kExitOk;
  }
  if (name == "domain add") {
    const std::string domain = text_of(body["domain"]);
    out << "added " << domain << "\n";
    if (body["settings"]["tlsrpt_record"].is_string()) {
      out << "TLS-RPT: _smtp._tls." << domain << " TXT \"" << text_of(body["settings"]["tlsrpt_record"]) << "\"\n";
    }
    out << "next: stsctl policy stage " << domain << " --mode enforce --mx MX-HOST --max-age 604800\n";
  } else if (name == "domain remove") {
    out << "removed " << text_of(body["removed"]) << (body.value("forced", false) ? " (forced)" : "")
        << "; its records are no longer served\n";
  } else if (name == "domain retire" || name == "domain unretire") {
    out << retirement_change_text(name == "domain retire", body);
  } else if (name == "domain set") {
    const json& settings = body["settings"];
    out << "updated " << text_of(body["domain"]) << ": TLS-RPT "
        << (settings["tlsrpt_record"].is_string() ? "\"" + text_of(settings["tlsrpt_record"]) + "\""
                                                  : std::string("not published"))
        << ", vantages "
        << (settings["vantages"].empty() ? std::string("default (resolve mta-sts name)")
                                         : join(settings["vantages"], ", "))
        << "\n";
  } else if (name == "policy stage") {
    const std::string domain = text_of(body["domain"]);
    const std::string version = text_of(body["version"]);
    if (body["created"].get<bool>()) {
      out << "staged " << domain << " version " << version << "\n";
      if (body["confirmed_version"].is_number()) {
        out << "senders keep getting version " << text_of(body["confirmed_version"]) << " until version " << version
            << " is confirmed\n";
      } else {
        out << "nothing is published until version " << version << " is confirmed\n";
      }
    } else {
      out << "unchanged: version " << version << " of " << domain << " already has this policy; nothing staged\n";
    }
    for (const auto& p : body["forced_past"]) err << "warning: staged despite: " << text_of(p) << "\n";
    print_warnings(body["warnings"], err);
  } else if (name == "policy confirm") {
    const std::string domain = text_of(body["domain"]);
    out << "confirmed " << domain << " version " << text_of(body["confirmed"]["version"]) << " (by hand)\n";
    if (body["txt"].is_string())
      out << "served now: _mta-sts." << domain << " TXT \"" << text_of(body["txt"]) << "\"\n";
    if (body.contains("forced_past"))
      for (const auto& p : body["forced_past"]) err << "warning: confirmed despite: " << text_of(p) << "\n";
  } else if (name == "policy show") {
    // Exactly the bytes to serve (CRLF), so `> mta-sts.txt` gives a deployable file.
    out << text_of(body["text"]);
    if (body.contains("which") && text_of(body["which"]) == "staged") {
      err << "note: " << text_of(body["domain"]) << " has no confirmed version; this is the newest staged, version "
          << text_of(body["version"]) << "\n";
    }
  } else if (name == "status") {
    print_status(body, out);
  } else if (name == "events") {
    for (const auto& event : body["events"]) {
      out << text_of(event["at"]) << "  " << text_of(event["kind"]);
      if (event["version"].is_number()) out << " v" << text_of(event["version"]);
      if (!text_of(event["detail"]).empty()) out << ": " << text_of(event["detail"]);
      out << "\n";
    }
  } else if (name == "check") {
    out << text_of(body["text"]) << "\n";
    if (auto reports = fetch_domain_reports(client, invocation.arguments.at(0))) out << reports_summary_line(*reports) << "\n";
    return body.value("ok", false) ? kExitOk : kExitRefused;  // problems found
  } else if (name == "backup") {
    out << "backup written to " << text_of(body["dir"]) << ": " << text_of(body["domains"]) << " domains, events up to "
        << text_of(body["event_seq"]) << ", " << text_of(body["bytes"]) << " bytes in " << text_of(body["files"])
        << " files\n";
  } else if (name == "reports") {
    if (invocation.has("stale"))
      print_stale_reports(body, out);
    else
      print_domain_reports(body, out);
  } else if (name == "version") {
    out << "stsctl " << STSD_VERSION << "\n"
        << "stsd " << text_of(body["version"]) << " at " << client.endpoint().description << " (store schema "
        << text_of(body["schema"]) << ", " << text_of(body["domains"]) << " domains)\n";
    out << store_state_text(body["store"]);
  }
  return kExitOk;
}

}  // namespace

Endpoint resolve_endpoint(const ServerSelection& selection, const char* env_socket) {
  int chosen = (selection.socket ? 1 : 0) + (selection.config ? 1 : 0) + (selection.connect ? 1 : 0);
  if (chosen > 1) throw UsageError("give only one of --socket, --config and --connect");
  if (selection.token_file && !selection.connect) {
    throw UsageError("--token-file is only used with --connect (the unix socket needs no token)");
  }
  Endpoint endpoint;
  if (selection.socket) {
    endpoint.socket = *selection.socket;
    endpoint.description = "socket " + endpoint.socket;
    return endpoint;
  }
  if (selection.connect) {
    const std::string& text = *selection.connect;
    const auto where = stsd::net::parse_host_port(text);
    if (!where) throw UsageError("--connect: " + where.error());
    endpoint.host = where->host;
    endpoint.port = where->port;
    if (!selection.token_file) throw UsageError("--connect needs --token-file FILE (the server's admin.token_file)");
    std::string error = stsd::admin::read_token_file(*selection.token_file, endpoint.token);
    if (!error.empty()) throw UsageError("--token-file: " + error);
    endpoint.description = "http://" + text;
    return endpoint;
  }
  if (selection.config) {
    try {
      stsd::ConfigNode root = stsd::load_config_file(*selection.config);
      if (!root.is_map()) root.fail("the config must be a map of top-level keys");
      std::optional<std::filesystem::path> storage;
      if (auto node = root.get("storage")) storage = node->as_path();
      auto admin = root.get("admin");
      stsd::admin::AdminConfig config = stsd::admin::parse_admin_config(admin ? &*admin : nullptr, storage, false);
      if (!config.enabled) {
        throw UsageError("the admin API is off in " + *selection.config +
                         (storage ? " (admin.enabled: false)" : " (it has no storage:)"));
      }
      endpoint.socket = config.socket.native();
      endpoint.description = "socket " + endpoint.socket + " (from " + *selection.config + ")";
      return endpoint;
    } catch (const stsd::ConfigError& error) {
      throw UsageError(std::string("--config: ") + error.what());
    }
  }
  if (env_socket != nullptr && *env_socket != '\0') {
    endpoint.socket = env_socket;
    endpoint.description = "socket " + endpoint.socket + " (from $STSD_SOCKET)";
    return endpoint;
  }
  endpoint.socket = "var/stsd.sock";
  endpoint.description = "socket var/stsd.sock (the default)";
  return endpoint;
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, bool interactive) {
  Invocation invocation;
  try {
    invocation = parse_command_line(args);
    if (invocation.version && !invocation.command) {
      out << "stsctl " << STSD_VERSION << "\n";
      return kExitOk;
    }
    if (invocation.help) {
      out << (invocation.command ? command_help(*invocation.command) : overview_help());
      return kExitOk;
    }
    // Check the command's arguments before connecting anywhere.
    const std::string& name = invocation.command->name;
    if (name == "import") {
      import_options(invocation);
    } else if (name != "domain list" && name != "reports ingest") {
      build_api_call(invocation);
    }
    AdminClient client(resolve_endpoint(invocation.server, std::getenv("STSD_SOCKET")));
    if (name == "import") return run_import(invocation, client, out, err, interactive);
    if (name == "reports ingest") return run_reports_ingest(invocation, client, std::cin, out, err);
    if (name == "domain list") return run_domain_list(invocation, client, out);
    return run_single(invocation, client, out, err);
  } catch (const UsageError& error) {
    err << "stsctl: " << error.what() << "\n";
    if (!error.command().empty()) {
      err << "usage: see `stsctl " << error.command() << " --help`\n";
    } else {
      err << "usage: see `stsctl --help`\n";
    }
    return kExitUsage;
  } catch (const Refused& refused) {
    err << "stsctl: " << refused.what() << "\n";
    if (invocation.json && !refused.body().is_null()) out << refused.body().dump(2) << "\n";
    return kExitRefused;
  } catch (const ConnectionError& error) {
    err << "stsctl: " << error.what() << "\n";
    return kExitRefused;
  } catch (const CsvError& error) {
    err << "stsctl: " << error.what() << "\n";
    return kExitRefused;
  } catch (const std::exception& error) {
    err << "stsctl: " << error.what() << "\n";
    return kExitRefused;
  }
}

}  // namespace stsctl
