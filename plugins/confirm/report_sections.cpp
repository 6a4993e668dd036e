#include "report_sections.h"

#include <algorithm>
#include <utility>

#include "fetcher.h"
#include "join.h"
#include "mx_coverage.h"
#include "outcome_json.h"
#include "store/ascii.h"

namespace stsd::confirm {

using std::chrono::seconds;

namespace {

// Certificates closer than this to expiry are reported by `check` (ACME renews at 30 days).
constexpr auto kCertificateWarning = std::chrono::hours(24 * 14);
// What `check` assumes when the TXT TTL cannot be read (the mtasts plugin's default).
constexpr uint32_t kAssumedTxtTtl = 300;

TimePoint from_unix(int64_t unix) { return TimePoint(std::chrono::seconds(unix)); }

// A finding in plain words, and whether it is fine (otherwise it is a problem).
struct Judgement {
  std::string words;
  bool ok = false;
};

// ---------------------------------------------------------------------------------------
// TXT
// ---------------------------------------------------------------------------------------

// The id field of an MTA-STS TXT record (RFC 8461 §3.1), or "" when absent.
std::string sts_id(std::string_view record) {
  size_t start = 0;
  while (start <= record.size()) {
    size_t end = record.find(';', start);
    if (end == std::string_view::npos) end = record.size();
    auto field = record.substr(start, end - start);
    while (!field.empty() && (field.front() == ' ' || field.front() == '\t')) field.remove_prefix(1);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
    if (field.substr(0, 3) == "id=") return std::string(field.substr(3));
    start = end + 1;
  }
  return "";
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > store::kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

struct TxtRecords {
  nlohmann::json texts = nlohmann::json::array();
  std::vector<std::string> sts, others;
  bool multi_string = false;
};

TxtRecords sort_txt_records(const TxtLookup& txt) {
  TxtRecords records;
  for (const auto& record : txt.records) {
    records.texts.push_back(record.text);
    // RFC 8461 §3.1: records not starting with v=STSv1 are not MTA-STS records.
    (record.text.rfind("v=STSv1", 0) == 0 ? records.sts : records.others).push_back(record.text);
    records.multi_string |= record.strings > 1;
  }
  return records;
}

// The one MTA-STS record found, against the id stsd serves.
Judgement judge_sts_record(const std::string& domain, const std::string& name, const std::string& via,
                           const std::string& record, const std::string& id, uint32_t ttl,
                           const store::DomainStatus& status) {
  const std::string words = "TXT " + name + via + ": one record \"" + record + "\" (TTL " + std::to_string(ttl) + " s)";
  if (!valid_id(id)) return {words + "; its id is not 1-32 letters or digits", false};
  if (id == status.served_id) return {words + "; it carries the id stsd serves now", true};
  if (status.served_id.empty())
    return {words + "; stsd serves no record for " + domain + " (nothing confirmed), so this one comes from elsewhere",
            false};
  // Just after a rotation a cache may still hold the previous period's id.
  const std::string& previous = status.previous_id;
  if (!previous.empty() && id == previous)
    return {words + "; it is the previous period's id (stsd now serves " + status.served_id +
                "), still cached for up to " + std::to_string(ttl) + " s",
            true};
  return {words + "; stsd serves id " + status.served_id + ": " + name +
              " does not reach stsd (check the NS or CNAME delegation), or a cache holds an old record",
          false};
}

Judgement judge_txt(const std::string& domain, const std::string& name, const TxtLookup& txt, const TxtRecords& records,
                    const std::string& id, const store::DomainStatus& status) {
  const std::string via = txt.cname_chain.empty() ? "" : " via CNAME " + join(txt.cname_chain, " -> ");
  if (txt.status == LookupStatus::Failed) return {"TXT " + name + ": " + txt.describe(name, "TXT"), false};
  if (records.sts.empty()) {
    if (status.confirmed) return {"TXT " + name + via + ": no v=STSv1 record (senders see no policy)", false};
    return {"TXT " + name + via + ": no v=STSv1 record (expected: nothing is confirmed yet)", true};
  }
  if (records.sts.size() > 1)
    return {"TXT " + name + via + ": " + std::to_string(records.sts.size()) +
                " v=STSv1 records (senders treat that as no policy; mailauth drops its cached one)",
            false};
  return judge_sts_record(domain, name, via, records.sts.front(), id, txt.ttl, status);
}

// ---------------------------------------------------------------------------------------
// Policy per vantage
// ---------------------------------------------------------------------------------------

void add_vantage_line(CheckReport& report, const std::string& domain, const VantageOutcome& outcome, bool pending,
                      TimePoint checked) {
  std::string line = "Policy: " + outcome.words;
  if (outcome.served == Served::Staged) line += " (staged, not yet confirmed)";
  if (outcome.served == Served::Confirmed)
    line += pending ? " (the confirmed one; the staged one has not reached it yet)" : " (the confirmed one)";
  const bool bad = outcome.served == Served::Error || outcome.served == Served::Other ||
                   outcome.served == Served::Unparsable || outcome.served == Served::Older;
  if (bad) report.problems.push_back(outcome.words);
  if (outcome.certificate_not_after) {
    const auto left = std::chrono::duration_cast<seconds>(*outcome.certificate_not_after - checked);
    if (left.count() > 0) {
      line += "; certificate valid until " + format_utc(*outcome.certificate_not_after) + " (" +
              describe_duration(left) + " left)";
      if (left < kCertificateWarning)
        report.problems.push_back(outcome.label + ": certificate for mta-sts." + domain + " expires in " +
                                  describe_duration(left));
    }
  }
  report.lines.push_back(line);
}

// ---------------------------------------------------------------------------------------
// MX
// ---------------------------------------------------------------------------------------

struct MailHosts {
  std::string words;
  bool problem = false;
  bool no_mx = false;
  std::vector<std::pair<std::string, unsigned>> hosts;  // host, preference
};

MailHosts mail_hosts_of(const std::string& domain, const MxLookup& mx) {
  MailHosts mail;
  mail.no_mx = mx.status == LookupStatus::NoData;
  if (mx.status == LookupStatus::Failed) {
    mail.words = "MX: " + mx.describe(domain, "MX");
    mail.problem = true;
  } else if (mx.status == LookupStatus::NxDomain) {
    mail.words = "MX: " + domain + " does not exist in DNS (NXDOMAIN)";
    mail.problem = true;
  } else if (mx.null_mx()) {
    mail.words = "MX: null MX (RFC 7505): " + domain + " accepts no mail";
  } else if (mail.no_mx) {
    mail.words = "MX: none; mail goes to " + domain + " itself (RFC 5321 §5.1)";
    mail.hosts.push_back({domain, 0});
  } else {
    mail.words = "MX: " + std::to_string(mx.records.size()) + " host(s)";
    for (const auto& record : mx.records) mail.hosts.push_back({record.host, record.preference});
  }
  return mail;
}

// Whether the confirmed version covers `host`; senders act on it now.
std::string confirmed_coverage(CheckReport& report, const std::string& host, const store::PolicyVersion& confirmed,
                               const std::string& pattern) {
  const auto& policy = confirmed.policy;
  const std::string v = "version " + std::to_string(confirmed.number);
  if (!pattern.empty()) return "covered by " + pattern + " in confirmed " + v;
  if (policy.mode == store::Mode::Enforce)
    report.problems.push_back("MX host " + host + " is not covered by the confirmed policy (" + v +
                              ", enforce): senders that enforce MTA-STS refuse to deliver to it");
  else if (policy.mode == store::Mode::Testing)
    report.problems.push_back("MX host " + host + " is not covered by the confirmed policy (" + v +
                              ", testing): senders report failures for it");
  return "NOT covered by confirmed " + v + " (mode " + std::string(store::mode_name(policy.mode)) + ")";
}

// Whether the pending staged version covers `host`; confirming it would make that count.
std::string staged_coverage(CheckReport& report, const std::string& host, const store::PolicyVersion& staged,
                            const std::string& pattern) {
  const auto& policy = staged.policy;
  const std::string v = "version " + std::to_string(staged.number);
  if (!pattern.empty()) return "covered by " + pattern + " in staged " + v;
  if (policy.mode != store::Mode::None)
    report.problems.push_back("MX host " + host + " is not covered by the staged policy (" + v + ", " +
                              std::string(store::mode_name(policy.mode)) +
                              "): confirming it would break delivery there");
  return "NOT covered by staged " + v;
}

nlohmann::json add_mx_host(CheckReport& report, const std::string& host, unsigned preference,
                           const store::DomainStatus& status, bool pending) {
  std::string confirmed_pattern, staged_pattern;
  if (status.confirmed) confirmed_pattern = matching_pattern(status.confirmed->policy.mx, host);
  if (pending) staged_pattern = matching_pattern(status.staged->policy.mx, host);
  std::vector<std::string> parts;
  if (status.confirmed) parts.push_back(confirmed_coverage(report, host, *status.confirmed, confirmed_pattern));
  if (pending) parts.push_back(staged_coverage(report, host, *status.staged, staged_pattern));
  if (parts.empty()) parts.push_back("no policy to check against");
  report.lines.push_back("MX " + host + " (preference " + std::to_string(preference) + "): " + join(parts, "; "));
  return {{"host", host},
          {"preference", preference},
          {"confirmed_pattern", confirmed_pattern},
          {"staged_pattern", staged_pattern}};
}

// ---------------------------------------------------------------------------------------
// TLS-RPT
// ---------------------------------------------------------------------------------------

Judgement judge_tlsrpt(const std::string& domain, const std::string& name, const TxtLookup& tlsrpt,
                       const std::vector<std::string>& records, const std::string& expected) {
  const std::string words = "TLS-RPT " + name + ": ";
  if (tlsrpt.status == LookupStatus::Failed) return {words + tlsrpt.describe(name, "TXT"), false};
  if (records.empty())
    return {words + (expected.empty() ? "no record (none configured in stsd)"
                                      : "no record, but stsd is configured to serve \"" + expected + "\""),
            expected.empty()};
  if (records.size() > 1)
    return {words + std::to_string(records.size()) + " v=TLSRPTv1 records (senders use none of them)", false};
  if (expected.empty())
    return {words + "\"" + records.front() + "\" (served from elsewhere; stsd has no TLS-RPT URIs for " + domain + ")",
            true};
  if (records.front() == expected) return {words + "one record \"" + records.front() + "\", as configured", true};
  return {words + "\"" + records.front() + "\" differs from what stsd serves (\"" + expected + "\")", false};
}

// ---------------------------------------------------------------------------------------
// Safe to add
// ---------------------------------------------------------------------------------------

// Whether the policy a vantage served lists `pattern` (case-insensitively), or, for a
// host name, a pattern that covers it (RFC 8461 §4.1).
bool lists_pattern(const VantageOutcome& outcome, const std::string& pattern) {
  for (const auto& mx : outcome.mx)
    if (store::ascii::iequals(mx, pattern)) return true;
  return pattern.rfind("*.", 0) != 0 && !matching_pattern(outcome.mx, pattern).empty();
}

// The vantages that do not serve a policy listing `pattern`, each in words.
std::vector<std::string> vantages_not_listing(const std::vector<VantageOutcome>& outcomes, const std::string& pattern) {
  std::vector<std::string> missing;
  for (const auto& outcome : outcomes) {
    if (lists_pattern(outcome, pattern)) continue;
    if (outcome.mx.empty())
      missing.push_back(outcome.words + ", so senders cannot get a policy listing it there");
    else
      missing.push_back(outcome.words + ", which does not list it");
  }
  return missing;
}

}  // namespace

std::string sts_record_name(const std::string& domain) { return "_mta-sts." + domain; }
std::string tlsrpt_record_name(const std::string& domain) { return "_smtp._tls." + domain; }

CheckReport start_report(const std::string& domain, TimePoint checked, const std::string& resolver) {
  CheckReport report;
  report.json["domain"] = domain;
  report.json["checked_at"] = store::unix_seconds(checked);
  report.lines.push_back("Check of " + domain + " at " + format_utc(checked) + " through resolver " + resolver);
  return report;
}

void add_store_section(CheckReport& report, const store::DomainStatus& status, bool pending,
                       const std::string& rotation_held) {
  std::string line = "stsd: ";
  if (status.confirmed && status.confirmation)
    line += "version " + std::to_string(status.confirmed->number) + " confirmed " +
            (status.confirmation->manual ? "by hand" : "automatically") + " at " +
            format_utc(from_unix(status.confirmation->at));
  else
    line += "nothing confirmed yet (no TXT record is served)";
  if (pending) line += "; version " + std::to_string(status.staged->number) + " staged, waiting for confirmation";
  if (!status.served_id.empty()) line += "; serving id " + status.served_id;
  if (status.hold) line += "; id rotation HELD: " + status.hold->reason;
  if (!rotation_held.empty()) {
    line += "; " + rotation_held;
    report.problems.push_back(rotation_held);
  }
  report.lines.push_back(line);
  report.json["store"] = {
      {"confirmed_version", status.confirmed ? nlohmann::json(status.confirmed->number) : nlohmann::json(nullptr)},
      {"staged_version", status.staged ? nlohmann::json(status.staged->number) : nlohmann::json(nullptr)},
      {"pending", pending},
      {"served_id", status.served_id},
      {"hold", status.hold ? nlohmann::json(status.hold->reason) : nlohmann::json(nullptr)},
      {"rotation_held", rotation_held.empty() ? nlohmann::json(nullptr) : nlohmann::json(rotation_held)}};
}

std::optional<uint32_t> add_txt_section(CheckReport& report, const std::string& domain, const TxtLookup& txt,
                                        const store::DomainStatus& status) {
  const std::string name = sts_record_name(domain);
  const TxtRecords records = sort_txt_records(txt);
  const std::string id = records.sts.size() == 1 ? sts_id(records.sts.front()) : "";
  auto [words, ok] = judge_txt(domain, name, txt, records, id, status);
  if (!ok) report.problems.push_back(words);
  if (!records.others.empty()) {
    std::string other_words = "TXT " + name + " also has " + std::to_string(records.others.size()) +
                              " other TXT record(s) (maddy then ignores MTA-STS): " + join(records.others, " | ");
    report.problems.push_back(other_words);
    words += "; " + other_words;
    ok = false;
  }
  if (records.multi_string)
    words += "; a record is split into several strings (allowed, but some senders mishandle it)";
  report.lines.push_back(words);
  report.json["txt"] = {{"name", name},
                        {"status", txt.describe(name, "TXT")},
                        {"records", records.texts},
                        {"sts_records", records.sts.size()},
                        {"cname_chain", txt.cname_chain},
                        {"id", id},
                        {"served_id", status.served_id},
                        {"ttl", txt.ttl},
                        {"ok", ok},
                        {"words", words}};
  if (records.sts.size() == 1) return txt.ttl;
  return std::nullopt;
}

void add_policy_section(CheckReport& report, const std::string& domain, const std::optional<std::string>& setup_error,
                        bool configured_vantages, const std::vector<VantageOutcome>& outcomes, bool pending,
                        TimePoint checked) {
  if (setup_error) {
    report.problems.push_back("policy: " + *setup_error);
    report.lines.push_back("Policy: " + *setup_error);
  }
  nlohmann::json vantages = nlohmann::json::array();
  for (const auto& outcome : outcomes) {
    add_vantage_line(report, domain, outcome, pending, checked);
    vantages.push_back(outcome_json(outcome));
  }
  report.json["vantages"] = vantages;
  report.json["vantage_source"] = configured_vantages ? "configured" : "resolved";
}

void add_mx_section(CheckReport& report, const std::string& domain, const MxLookup& mx,
                    const store::DomainStatus& status, bool pending) {
  // RFC 8461 §4.1: every MX host must match a pattern of the policy.
  const MailHosts mail = mail_hosts_of(domain, mx);
  if (mail.problem) report.problems.push_back(mail.words);
  report.lines.push_back(mail.words);
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& [host, preference] : mail.hosts)
    hosts.push_back(add_mx_host(report, host, preference, status, pending));
  report.json["mx"] = {{"resolved", mx.status != LookupStatus::Failed},
                       {"error", mx.error},
                       {"null_mx", mx.null_mx()},
                       {"no_mx", mail.no_mx},
                       {"hosts", hosts},
                       {"words", mail.words}};
}

void add_tlsrpt_section(CheckReport& report, const std::string& domain, const TxtLookup& tlsrpt,
                        const store::DomainStatus& status) {
  const std::string name = tlsrpt_record_name(domain);
  const std::string expected = store::tlsrpt_record(status.settings.tlsrpt_rua);
  std::vector<std::string> records;
  for (const auto& record : tlsrpt.records)
    if (record.text.rfind("v=TLSRPTv1", 0) == 0) records.push_back(record.text);
  const auto [words, ok] = judge_tlsrpt(domain, name, tlsrpt, records, expected);
  if (!ok) report.problems.push_back(words);
  report.lines.push_back(words);
  report.json["tlsrpt"] = {{"name", name}, {"records", records}, {"expected", expected}, {"ok", ok}, {"words", words}};
}

void add_safe_to_add_section(CheckReport& report, const store::DomainStatus& status, bool pending,
                             std::optional<uint32_t> txt_ttl, std::chrono::seconds rotation, TimePoint checked,
                             const std::vector<VantageOutcome>& outcomes,
                             std::optional<std::chrono::seconds> transfer_lag) {
  // A new MX host is safe once every sender has re-fetched a policy that lists it: the id
  // moved at confirmation, a full rotation period passed (senders refresh about daily)
  // and the old TXT record left caches (its TTL); with secondaries, after they too serve
  // the new id (the worst transfer lag seen). And only while every vantage serves such a
  // policy: a rotation hands senders whatever an edge serves.
  const uint32_t ttl = txt_ttl.value_or(kAssumedTxtTtl);
  std::string ttl_words = std::to_string(ttl) + " s" + (txt_ttl ? "" : " (assumed)");
  const seconds lag = transfer_lag.value_or(seconds(0));
  if (transfer_lag) ttl_words += " + worst transfer lag of the secondaries " + std::to_string(lag.count()) + " s";
  const nlohmann::json lag_json = transfer_lag ? nlohmann::json(lag.count()) : nlohmann::json(nullptr);
  nlohmann::json safe = nlohmann::json::array();
  std::vector<std::string> listed;
  if (status.confirmed && status.confirmation) {
    const TimePoint from = from_unix(status.confirmation->at) + rotation + seconds(ttl) + lag;
    for (const auto& pattern : status.confirmed->policy.mx) {
      listed.push_back(pattern);
      const std::vector<std::string> missing = vantages_not_listing(outcomes, pattern);
      std::string words = "Safe to add MX host " + pattern;
      if (!missing.empty())
        words += ": NOT safe now: " + join(missing, "; ");
      else
        words += " from " + format_utc(from) + (from <= checked ? " (already)" : "") + ": confirmed at " +
                 format_utc(from_unix(status.confirmation->at)) + " + rotation " + describe_duration(rotation) +
                 " + TXT TTL " + ttl_words;
      report.lines.push_back(words);
      safe.push_back({{"pattern", pattern},
                      {"version", status.confirmed->number},
                      {"from", missing.empty() ? nlohmann::json(store::unix_seconds(from)) : nlohmann::json(nullptr)},
                      {"safe", missing.empty() && from <= checked},
                      {"not_served_by", missing},
                      {"transfer_lag", lag_json},
                      {"words", words}});
    }
  }
  if (pending) {
    for (const auto& pattern : status.staged->policy.mx) {
      if (std::find(listed.begin(), listed.end(), pattern) != listed.end()) continue;
      std::string words = "Safe to add MX host " + pattern + ": not before version " +
                          std::to_string(status.staged->number) + " is confirmed, then + rotation " +
                          describe_duration(rotation) + " + TXT TTL " + ttl_words;
      report.lines.push_back(words);
      safe.push_back({{"pattern", pattern},
                      {"version", status.staged->number},
                      {"from", nullptr},
                      {"safe", false},
                      {"not_served_by", vantages_not_listing(outcomes, pattern)},
                      {"transfer_lag", lag_json},
                      {"words", words}});
    }
  }
  report.json["safe_to_add"] = safe;
}

nlohmann::json finish_report(CheckReport report) {
  const auto& problems = report.problems;
  if (problems.empty()) {
    report.lines.push_back("Result: no problems found");
  } else {
    report.lines.push_back("Result: " + std::to_string(problems.size()) + " problem" +
                           (problems.size() == 1 ? "" : "s") + ":");
    for (const auto& problem : problems) report.lines.push_back("  - " + problem);
  }
  report.json["ok"] = problems.empty();
  report.json["problems"] = problems;
  report.json["text"] = join(report.lines, "\n");
  return std::move(report.json);
}

}  // namespace stsd::confirm
