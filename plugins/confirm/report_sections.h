#pragma once
// The sections of the `stsctl check` report (ConfirmApi::run_check; checks.h lists the
// JSON fields), in the order they are printed. Each section is built from facts already
// gathered (the store's status, DNS lookups, fetches): no I/O here. A section adds its
// plain-word lines, the problems it finds and its JSON to the report.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/policy_store.h"
#include "resolver.h"
#include "tracker.h"

namespace stsd::confirm {

struct CheckReport {
  nlohmann::json json;
  std::vector<std::string> lines;     // the report in plain words
  std::vector<std::string> problems;  // listed at the end; stsctl exits 1 when there is one
};

std::string sts_record_name(const std::string& domain);     // "_mta-sts.<domain>" (RFC 8461 §3.1)
std::string tlsrpt_record_name(const std::string& domain);  // "_smtp._tls.<domain>" (RFC 8460 §3)

// The heading: which domain, when, through which resolver.
CheckReport start_report(const std::string& domain, TimePoint checked, const std::string& resolver);
// What the store says: the confirmed and staged versions, the served id, a hold.
// `rotation_held`: why the id is held behind the current period ("" when it is not); a
// problem.
void add_store_section(CheckReport& report, const store::DomainStatus& status, bool pending,
                       const std::string& rotation_held = "");
// The TXT record as the world sees it, against the id stsd serves. Returns the record's
// TTL when there is exactly one MTA-STS record (what add_safe_to_add_section needs).
std::optional<uint32_t> add_txt_section(CheckReport& report, const std::string& domain, const TxtLookup& txt,
                                        const store::DomainStatus& status);
// The policy each vantage served, and its certificate's expiry; `setup_error` when the
// vantages could not be determined.
void add_policy_section(CheckReport& report, const std::string& domain, const std::optional<std::string>& setup_error,
                        bool configured_vantages, const std::vector<VantageOutcome>& outcomes, bool pending,
                        TimePoint checked);
// The MX hosts and the pattern of the confirmed and staged versions covering each.
void add_mx_section(CheckReport& report, const std::string& domain, const MxLookup& mx,
                    const store::DomainStatus& status, bool pending);
// The TLS-RPT record against the one stsd is configured to serve.
void add_tlsrpt_section(CheckReport& report, const std::string& domain, const TxtLookup& tlsrpt,
                        const store::DomainStatus& status);
// For each mx pattern, from when adding such an MX host is safe: only once every vantage
// serves a policy listing it (`outcomes`: what each serves now), then from the time the
// confirmed version reached every sender. `transfer_lag`: the worst lag seen of the
// secondaries stsd feeds by zone transfer (nullopt when none was seen); a lagging
// secondary serves the previous id that much longer.
void add_safe_to_add_section(CheckReport& report, const store::DomainStatus& status, bool pending,
                             std::optional<uint32_t> txt_ttl, std::chrono::seconds rotation, TimePoint checked,
                             const std::vector<VantageOutcome>& outcomes,
                             std::optional<std::chrono::seconds> transfer_lag = std::nullopt);
// The result line and the list of problems; the report's final JSON.
nlohmann::json finish_report(CheckReport report);

}  // namespace stsd::confirm
