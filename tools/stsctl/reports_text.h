#pragma once
// What stsctl prints from the admin API's TLS-RPT documents (GET /v1/reports, the tlsrpt
// plugin's README): `stsctl reports DOMAIN`, `stsctl reports --stale`, and the one line
// `stsctl check DOMAIN` adds.
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace stsctl {

// `stsctl reports DOMAIN` in plain words (GET /v1/reports?domain=).
void print_domain_reports(const nlohmann::json& reports, std::ostream& out);
// `stsctl reports --stale` (GET /v1/reports?stale=true).
void print_stale_reports(const nlohmann::json& stale, std::ostream& out);
// One line for `stsctl check DOMAIN`: "TLS-RPT reports since D: N successful, M failed
// sessions; stale: ..." (no trailing newline).
std::string reports_summary_line(const nlohmann::json& reports);
// "Google LLC applied version 1 while version 2 was confirmed (since T): 10 successful,
// 2 failed sessions, D1 to D2" for one entry of a "stale" list.
std::string stale_words(const nlohmann::json& stale);

}  // namespace stsctl
