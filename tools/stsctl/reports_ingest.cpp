#include "reports_ingest.h"

#include <fstream>
#include <istream>
#include <ostream>

#include "maildir.h"
#include "report_mail.h"
#include "reports_text.h"
#include "status_text.h"

namespace stsctl {
namespace {

using nlohmann::json;
using stsd::admin::AdminClient;
using stsd::admin::ConnectionError;

// At most `limit` + 1 bytes, so that a larger input is known to be too large without
// holding all of it.
std::string read_bounded(std::istream& in, size_t limit) {
  std::string bytes;
  char buffer[65536];
  while (bytes.size() <= limit && in.read(buffer, sizeof buffer).gcount() > 0) {
    bytes.append(buffer, static_cast<size_t>(in.gcount()));
  }
  return bytes;
}

struct Tally {
  uint64_t stored = 0, duplicates = 0, refused = 0;
  bool try_later = false;  // stsd cannot take reports now: stop, the MTA or the next run retries

  int exit_code() const { return try_later ? kExitTempFail : refused > 0 ? kExitDataError : kExitOk; }
};

bool route_missing(unsigned status) { return status == 404 || status == 415; }

std::string server_error(const stsd::admin::HttpResult& result) {
  if (result.body.is_object() && result.body.contains("error")) return text_of(result.body["error"]);
  return "HTTP " + std::to_string(result.status) + " " + result.raw.substr(0, 200);
}

// POSTs one report and says what became of it; the return tells the tally.
IngestOutcome send_report(AdminClient& client, const MailReport& report, const std::string& source, bool as_json,
                          std::ostream& out, std::ostream& err) {
  stsd::admin::HttpResult result;
  try {
    result = client.request("POST", "/v1/reports", report.bytes, report.media_type);
  } catch (const ConnectionError& error) {
    err << source << ": not ingested, try again later: " << error.what() << "\n";
    return IngestOutcome::TryLater;
  }
  const IngestOutcome outcome = classify_ingest_answer(result.status, result.body);
  if (as_json && result.body.is_object()) out << result.body.dump() << "\n";
  const json& body = result.body;
  switch (outcome) {
    case IngestOutcome::Stored:
    case IngestOutcome::Duplicate:
      if (as_json) break;
      out << source << ": " << (outcome == IngestOutcome::Stored ? "stored" : "already stored (counted once)")
          << ": report " << text_of(body["report_id"]) << " from " << text_of(body["organization"]) << " for "
          << text_of(body["domain"]) << "\n";
      if (body["stale"].is_array())
        for (const auto& stale : body["stale"])
          out << source << ": stale: " << (stale.is_object() ? stale_words(stale) : text_of(stale)) << "\n";
      break;
    case IngestOutcome::Refused:
      err << source << ": refused by stsd: " << server_error(result) << "\n";
      break;
    case IngestOutcome::TryLater:
      err << source << ": not ingested, try again later: "
          << (route_missing(result.status) ? "stsd at " + client.endpoint().description +
                                         " takes no TLS-RPT reports (is the tlsrpt plugin configured?)"
                                   : server_error(result))
          << "\n";
      break;
  }
  return outcome;
}

// Every report part of one message; true when each was stored or was already there.
bool ingest_message(AdminClient& client, std::string_view message, const std::string& source, bool as_json,
                    std::ostream& out, std::ostream& err, Tally& tally) {
  std::vector<MailReport> reports;
  try {
    reports = extract_reports(message);
  } catch (const ReportMailError& error) {
    err << source << ": " << error.what() << "\n";
    ++tally.refused;
    return false;
  }
  bool all_taken = true;
  for (const auto& report : reports) {
    const std::string where = reports.size() == 1 ? source : source + " (" + report.filename + ")";
    switch (send_report(client, report, where, as_json, out, err)) {
      case IngestOutcome::Stored: ++tally.stored; break;
      case IngestOutcome::Duplicate: ++tally.duplicates; break;
      case IngestOutcome::Refused: ++tally.refused, all_taken = false; break;
      case IngestOutcome::TryLater: tally.try_later = true; return false;
    }
  }
  return all_taken;
}

int ingest_maildir(AdminClient& client, const std::string& dir, bool as_json, std::ostream& out, std::ostream& err) {
  std::vector<MaildirMessage> messages;
  try {
    messages = waiting_messages(dir);
  } catch (const MaildirError& error) {
    throw UsageError(std::string("--maildir: ") + error.what(), "reports ingest");
  }
  Tally tally;
  uint64_t left = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& message = messages[i];
    std::ifstream file(message.path, std::ios::binary);
    if (!file) continue;  // taken by another reader since it was listed
    const std::string text = read_bounded(file, kMaxReportMailBytes);
    if (!ingest_message(client, text, message.path.string(), as_json, out, err, tally)) {
      ++left;
      if (tally.try_later) {
        left += messages.size() - i - 1;
        break;
      }
      continue;
    }
    try {
      mark_seen(dir, message);
    } catch (const MaildirError& error) {
      // Stored already; a second ingest of it counts once (the server dedupes).
      err << "stsctl: " << error.what() << "\n";
    }
  }
  if (!as_json) {
    out << dir << ": " << messages.size() << (messages.size() == 1 ? " message" : " messages") << ", " << tally.stored
        << " reports stored, " << tally.duplicates << " already stored, " << tally.refused << " refused; " << left
        << " left in place" << (tally.try_later ? " (stsd could not take them now)" : "") << "\n";
  }
  return tally.exit_code();
}

}  // namespace

IngestOutcome classify_ingest_answer(unsigned status, const json& body) {
  if (status >= 200 && status < 300) {
    if (body.is_object() && body.value("duplicate", false)) return IngestOutcome::Duplicate;
    // "stored": false without "duplicate" is the server keeping nothing it was sent (say,
    // a domain it does not serve, with unknown_domains: refuse answered as 200): no retry helps.
    if (body.is_object() && body.value("stored", false)) return IngestOutcome::Stored;
    return IngestOutcome::Refused;
  }
  // 507: the report is older than every day the size bound keeps; it never will fit.
  if (status == 507) return IngestOutcome::Refused;
  // The route is not there (no tlsrpt plugin yet): 404, or 415 from an admin API that
  // takes no tlsrpt media type (stsctl sends no other). 408, 429 and 5xx (the store
  // refusing writes, a full disk) pass. Keep the mail until the operator fixes it.
  if (route_missing(status) || status == 408 || status == 429 || status >= 500) return IngestOutcome::TryLater;
  return IngestOutcome::Refused;  // 400 with the field, 413: the report itself
}

int run_reports_ingest(const Invocation& invocation, AdminClient& client, std::istream& in, std::ostream& out,
                       std::ostream& err) {
  if (auto dir = invocation.value("maildir")) return ingest_maildir(client, *dir, invocation.json, out, err);
  const std::string message = read_bounded(in, kMaxReportMailBytes);
  Tally tally;
  ingest_message(client, message, "stdin", invocation.json, out, err, tally);
  return tally.exit_code();
}

std::optional<json> fetch_domain_reports(AdminClient& client, const std::string& domain) {
  try {
    auto result = client.request("GET", "/v1/reports?domain=" + percent_encode(domain));
    if (result.status == 200 && result.body.is_object()) return result.body;
  } catch (const ConnectionError&) {
  }
  return std::nullopt;
}

}  // namespace stsctl
