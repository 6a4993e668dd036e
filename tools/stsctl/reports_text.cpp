#include "reports_text.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "status_text.h"

namespace stsctl {
namespace {

using nlohmann::json;

uint64_t count_of(const json& value) { return value.is_number_unsigned() ? value.get<uint64_t>() : 0; }

std::string sessions_words(const json& successful, const json& failed) {
  return std::to_string(count_of(successful)) + " successful, " + std::to_string(count_of(failed)) + " failed sessions";
}

// "validation-failure 20, sts-policy-fetch-error 10": the most frequent first.
std::string failure_words(const json& failures) {
  if (!failures.is_object() || failures.empty()) return "none";
  std::vector<std::pair<std::string, uint64_t>> types;
  for (const auto& [type, count] : failures.items()) types.emplace_back(type, count_of(count));
  std::stable_sort(types.begin(), types.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string words;
  for (const auto& [type, count] : types) words += (words.empty() ? "" : ", ") + type + " " + std::to_string(count);
  return words;
}

std::string since_words(const json& reports) {
  return reports["since"].is_string() ? " since " + text_of(reports["since"]) : std::string();
}

}  // namespace

std::string stale_words(const json& stale) {
  std::string words = text_of(stale["reporter"]) + " applied version " + text_of(stale["version"]);
  if (stale["confirmed_version"].is_number()) {
    words += " while version " + text_of(stale["confirmed_version"]) + " was confirmed";
    if (stale["confirmed_at"].is_string()) words += " (since " + text_of(stale["confirmed_at"]) + ")";
  }
  words += ": " + sessions_words(stale["successful"], stale["failed"]);
  if (stale["first"].is_string()) {
    const std::string first = text_of(stale["first"]), last = text_of(stale["last"]);
    words += ", " + (last.empty() || last == first ? first : first + " to " + last);
  }
  return words;
}

void print_domain_reports(const json& reports, std::ostream& out) {
  const auto label = [&out](const std::string& text) -> std::ostream& {
    return out << text << std::string(text.size() < 16 ? 16 - text.size() : 1, ' ');
  };
  out << "TLS-RPT reports for " << text_of(reports["domain"]) << since_words(reports) << "\n";
  const json& totals = reports["totals"];
  label("sessions:") << sessions_words(totals["successful"], totals["failed"]) << "\n";
  label("failures:") << failure_words(reports["failures"]) << "\n";
  const json& stale = reports["stale"];
  if (!stale.is_array() || stale.empty()) {
    label("stale:") << "none (every reporter applied the version confirmed at the time)\n";
  } else {
    for (size_t i = 0; i < stale.size(); ++i) (i == 0 ? label("stale:") : label("")) << stale_words(stale[i]) << "\n";
  }
  if (count_of(reports["unknown_policy"]) > 0)
    label("unknown policy:") << count_of(reports["unknown_policy"])
                             << " (reports of a policy stsd never published for this domain)\n";
}

void print_stale_reports(const json& stale, std::ostream& out) {
  const json& domains = stale["domains"];
  if (!domains.is_array() || domains.empty()) {
    out << "no stale policy versions reported: every reporter applied the version confirmed at the time\n";
    return;
  }
  for (const auto& domain : domains) {
    for (const auto& entry : domain["stale"]) out << text_of(domain["domain"]) << ": " << stale_words(entry) << "\n";
  }
  out << domains.size() << (domains.size() == 1 ? " domain" : " domains") << " with stale policy versions in use\n";
}

std::string reports_summary_line(const json& reports) {
  const json& totals = reports["totals"];
  std::string line = "TLS-RPT reports" + since_words(reports) + ": ";
  if (count_of(totals["successful"]) + count_of(totals["failed"]) == 0 && count_of(reports["unknown_policy"]) == 0) {
    line += "none received";
  } else {
    line += sessions_words(totals["successful"], totals["failed"]);
    if (count_of(totals["failed"]) > 0) line += " (" + failure_words(reports["failures"]) + ")";
  }
  const json& stale = reports["stale"];
  if (stale.is_array() && !stale.empty()) {
    std::vector<std::string> reporters;
    for (const auto& entry : stale) reporters.push_back(text_of(entry["reporter"]) + " v" + text_of(entry["version"]));
    line += "; STALE versions in use: ";
    for (size_t i = 0; i < reporters.size(); ++i) line += (i ? ", " : "") + reporters[i];
    line += " (stsctl reports " + text_of(reports["domain"]) + ")";
  }
  return line;
}

}  // namespace stsctl
