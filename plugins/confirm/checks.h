#pragma once
// =====================================================================================
// The confirmer's API, for the admin API and stsctl. Header-only: include it as
// "confirm/checks.h" and link the INTERFACE target `stsd_confirm_api` (not
// stsd_plugin_confirm).
//
// WIRING. The confirmer wires itself in at start (ConfirmService::start registers on
// stsd::store::AdminExtensions, see admin_extensions.h), so the admin side needs no code of
// its own:
//   * stage check  -> `POST /v1/domains/D/policies` of an enforce policy that does not
//                     cover every current MX host is refused (409) unless "force": true;
//                     the problem is MxCoverage::problem() (names the hosts, or why MX
//                     could not be resolved). Modes testing and none are never refused.
//   * status section "confirm" -> `GET /v1/domains/D` has extensions.confirm = the
//                     probe_status() object below plus "lines" (plain words) that
//                     `stsctl status` prints.
//   * confirm check -> `POST /v1/domains/D/confirm` (a manual confirmation) is refused
//                     (409) while the last round saw a vantage serve something other than
//                     that version (confirm_problems()), unless "force": true; the event
//                     detail then records "forced: ...".
//   * domain route GET "check" -> `GET /v1/domains/D/check` answers run_check(D).
// stsctl needs: `stsctl check D [--json]` = GET /v1/domains/D/check, printing
// report["text"] (or the JSON), and `stsctl policy stage ... --force` = "force": true.
//
// The same is reachable through the Environment:
//   auto confirm = env.find_shared<stsd::confirm::ConfirmApi>(stsd::confirm::kConfirmApiKey);
//   // nullptr: `confirm:` is not configured.
//   auto coverage = confirm->check_mx_coverage(domain, policy.mx);    // stage
//   if (policy.mode == enforce && !coverage.acceptable() && !force) refuse with coverage.refusal();
//   nlohmann::json report = confirm->run_check(domain);               // check
//   if (auto probe = confirm->probe_status(domain)) status["confirm"] = *probe;
// Every call is thread-safe and blocks for at most a few seconds of DNS/HTTPS: call
// them from the admin thread, never from DNS answering.
// =====================================================================================
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stsd::confirm {

// Environment shared-object key of the ConfirmApi (env.find_shared<ConfirmApi>(...)).
inline constexpr const char* kConfirmApiKey = "confirm.api";

struct MxHostCoverage {
  std::string host;  // MX exchange, lowercase, no trailing dot
  unsigned preference = 0;
  std::string matched_pattern;  // the policy pattern that covers it; empty = not covered
};

struct MxCoverage {
  std::string domain;
  bool resolved = false;  // false: the MX lookup failed; `error` says why
  std::string error;
  bool null_mx = false;  // RFC 7505: the domain accepts no mail (nothing to cover)
  bool no_mx = false;    // no MX records: mail goes to the domain's A/AAAA (RFC 5321 §5.1)
  std::vector<MxHostCoverage> hosts;

  std::vector<std::string> uncovered() const {
    std::vector<std::string> out;
    for (const auto& host : hosts)
      if (host.matched_pattern.empty()) out.push_back(host.host);
    return out;
  }
  // True when staging an enforce policy with these patterns cannot break delivery to
  // any current MX host. An unresolvable MX set is not acceptable: we cannot know.
  bool acceptable() const { return resolved && uncovered().empty(); }
  // Plain words for the problem; empty when acceptable().
  std::string problem() const {
    if (!resolved) return "cannot check the MX hosts of " + domain + ": " + error;
    auto missing = uncovered();
    if (missing.empty()) return "";
    std::string list;
    for (const auto& host : missing) list += (list.empty() ? "" : ", ") + host;
    return "the enforce policy does not cover MX host" + std::string(missing.size() == 1 ? " " : "s ") + list + " of " +
           domain + ": senders that enforce MTA-STS would refuse to deliver there";
  }
  // problem() with the way out, for a CLI refusal.
  std::string refusal() const {
    auto text = problem();
    return text.empty() ? text : text + " (use --force to stage it anyway)";
  }
  nlohmann::json to_json() const {
    nlohmann::json hosts_json = nlohmann::json::array();
    for (const auto& host : hosts)
      hosts_json.push_back({{"host", host.host},
                            {"preference", host.preference},
                            {"covered", !host.matched_pattern.empty()},
                            {"pattern", host.matched_pattern}});
    return {{"domain", domain}, {"resolved", resolved}, {"error", error},           {"null_mx", null_mx},
            {"no_mx", no_mx},   {"hosts", hosts_json},  {"uncovered", uncovered()}, {"acceptable", acceptable()}};
  }
};

class ConfirmApi {
 public:
  virtual ~ConfirmApi() = default;

  // Resolves the MX records of `domain` now (through the configured resolver) and
  // matches each host against `patterns` (RFC 8461 §4.1, one-label wildcards).
  virtual MxCoverage check_mx_coverage(const std::string& domain, const std::vector<std::string>& patterns) = 0;

  // The full `stsctl check` report (fetches from every vantage and resolves now):
  //  txt:      {name, records [strings], sts_records (count), cname_chain [names], id,
  //             served_id, ttl, ok, words}
  //  vantages: [{vantage, label, served (staged|confirmed|older|other|unparsable|error),
  //             version, error, words, certificate_not_after (Unix s or null), elapsed_ms}]
  //  mx:       {resolved, error, null_mx, no_mx, hosts [{host, preference,
  //             confirmed_pattern, staged_pattern}], words}
  //  tlsrpt:   {name, records [strings], expected, ok, words}
  //  store:    {confirmed_version, staged_version, pending, served_id, hold,
  //             rotation_held (words, or null)}
  //  safe_to_add: [{pattern, version, from (Unix s or null), safe, not_served_by [words
  //             about each vantage that does not serve a policy listing it now],
  //             transfer_lag (the worst lag of the secondaries, in s, included in from;
  //             null when no secondary was seen), words}]
  // Throws std::invalid_argument("no domain X in the store") for an unknown domain.
  virtual nlohmann::json run_check(const std::string& domain) = 0;

  // The probe state of `domain` ({summary, phase, target_version, streak, needed,
  // streak_started_at, last_round_at, next_round_at, hold, vantages [{vantage, label,
  // served, version, error, words, certificate_not_after}], rotation {next_at,
  // offset_seconds, evidence_until, held, held_since, held_vantage, held_reason, lines},
  // lines [plain words for `stsctl status`]}); nullopt when the confirmer does not watch
  // the domain (yet). Before its first round, phase is null and summary "not probed yet".
  virtual std::optional<nlohmann::json> probe_status(const std::string& domain) = 0;

  // Why a manual confirmation of `version` would move the id onto a file that is not
  // served everywhere: one sentence per vantage whose last round served something else
  // ("edge 192.0.2.8 still serves version 3 (seen by the round at ...)"). Empty when the
  // last round saw every vantage serve `version`, or when the domain was not probed yet.
  virtual std::vector<std::string> confirm_problems(const std::string& domain, uint32_t version) = 0;
};

}  // namespace stsd::confirm
