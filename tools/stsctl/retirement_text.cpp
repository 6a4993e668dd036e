#include "retirement_text.h"

#include "utc_time.h"

namespace stsctl {
namespace {

using nlohmann::json;

std::string text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

// "records removed at T: version 1 (max_age 604800) was served until S and may be cached
// until then"
std::string removal_line(const json& retirement, const json& now) {
  const std::string at = text(retirement["remove_at"]);
  std::string line = "records removed at " + at;
  const auto due = stsd::parse_iso8601(at), current = stsd::parse_iso8601(text(now));
  if (due && current && *due <= *current) return line + " (due: they go at the next sweep, within a minute)";
  const json& cached = retirement["longest_cached"];
  if (!cached.is_object()) return line + ": no sender holds an earlier policy any more";
  return line + ": version " + text(cached["version"]) + " (max_age " + text(cached["max_age"]) +
         ") was served until " + text(cached["served_until"]) + " and may be cached until then";
}

}  // namespace

std::vector<std::string> retirement_lines(const json& status) {
  const json& retirement = status["retirement"];
  if (!retirement.is_object()) return {};
  std::string since = "since " + text(retirement["since"]);
  if (!text(retirement["reason"]).empty()) since += ": " + text(retirement["reason"]);
  if (retirement["remove_at"].is_string()) return {since, removal_line(retirement, status["now"])};
  return {since, "waiting for version " + text(retirement["version"]) +
                     " (mode none) to be confirmed; the records stay until then, and go once every policy "
                     "senders may have cached has expired"};
}

std::string retirement_change_text(bool retired, const json& status) {
  const std::string domain = text(status["domain"]);
  if (!retired) {
    std::string out = "cancelled the retirement of " + domain + "; its records stay\n";
    const json& confirmed = status["confirmed"];
    if (confirmed.is_object() && text(confirmed["mode"]) == "none")
      out += "it publishes version " + text(confirmed["version"]) +
             " (mode none): stage the policy it should publish (stsctl policy stage " + domain + " ...)\n";
    return out;
  }
  const json& retirement = status["retirement"];
  if (retirement["remove_at"].is_string())
    return "retiring " + domain + ": version " + text(retirement["version"]) + " (mode none) is confirmed; " +
           removal_line(retirement, status["now"]) + "\n";
  const std::string version = text(retirement["version"]);
  return "retiring " + domain + ": version " + version + " (mode none) is staged\n" +
         "next: once it is served, it is confirmed (by the confirmer, or by hand: stsctl policy confirm " + domain +
         " --version " + version +
         " --reason ...); the records are removed once every policy senders may have cached has expired "
         "(stsctl status " +
         domain + " shows when)\n";
}

}  // namespace stsctl
