#pragma once
// `stsctl reports ingest`: TLS-RPT report mails (stdin or a maildir) to the admin API's
// POST /v1/reports, with exit codes an MTA pipe transport understands (sysexits.h).
#include <iosfwd>
#include <optional>
#include <string>

#include "admin/client.h"
#include "cli.h"

namespace stsctl {

inline constexpr int kExitDataError = 65;  // EX_DATAERR: refused input, retrying will not help
inline constexpr int kExitTempFail = 75;   // EX_TEMPFAIL: stsd cannot take it now, retry later

// How the server's answer to POST /v1/reports counts (reports_ingest.cpp).
enum class IngestOutcome { Stored, Duplicate, Refused, TryLater };
IngestOutcome classify_ingest_answer(unsigned status, const nlohmann::json& body);

// Reads stdin (no --maildir) or the maildir; returns the exit code.
int run_reports_ingest(const Invocation& invocation, stsd::admin::AdminClient& client, std::istream& in,
                       std::ostream& out, std::ostream& err);

// GET /v1/reports?domain=DOMAIN for `stsctl check`; nullopt when this stsd keeps no
// reports (no tlsrpt plugin) or does not answer.
std::optional<nlohmann::json> fetch_domain_reports(stsd::admin::AdminClient& client, const std::string& domain);

}  // namespace stsctl
