// `stsctl status` in plain words, from the admin API's status document.
#include "status_text.h"

#include <cstdio>
#include <sstream>

#include "retirement_text.h"
#include "utc_time.h"

namespace stsctl {

using nlohmann::json;

namespace {

// An offset inside the rotation as h:mm:ss (for a daily rotation: the UTC time of day).
std::string clock_words(int64_t seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds % 3600 / 60), static_cast<long long>(seconds % 60));
  return text;
}

}  // namespace

std::string text_of(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

std::optional<int64_t> parse_iso(const json& value) {
  if (!value.is_string()) return std::nullopt;
  return stsd::parse_iso8601(value.get<std::string>());
}

std::string duration_words(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  int64_t days = seconds / 86400, hours = seconds % 86400 / 3600, minutes = seconds % 3600 / 60;
  std::ostringstream out;
  if (days > 0) out << days << " d" << (hours > 0 ? " " : "");
  if (hours > 0) out << hours << " h";
  if (days == 0 && minutes > 0) out << (hours > 0 ? " " : "") << minutes << " min";
  if (days == 0 && hours == 0 && minutes == 0) out << seconds << " s";
  return out.str();
}

std::string policy_words(const json& version) {
  std::ostringstream out;
  out << text_of(version["mode"]);
  if (version["mx"].is_array() && !version["mx"].empty()) {
    out << ", mx";
    for (const auto& mx : version["mx"]) out << " " << text_of(mx);
  }
  out << ", max_age " << text_of(version["max_age"]);
  return out.str();
}

std::string join(const json& list, const std::string& separator) {
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : separator) + text_of(item);
  return out;
}

void print_status(const json& s, std::ostream& out) {
  const std::string domain = text_of(s["domain"]);
  const auto now = parse_iso(s["now"]);
  auto label = [&](const std::string& name) -> std::ostream& {
    out << "  " << name << std::string(name.size() < 15 ? 15 - name.size() : 1, ' ');
    return out;
  };
  out << domain << "\n";
  if (s["served_id"].is_string()) {
    label("served now:") << "_mta-sts." << domain << " TXT \"" << text_of(s["txt"]) << "\"\n";
  } else {
    label("served now:") << "nothing: no version is confirmed yet, so _mta-sts." << domain << " has no TXT record\n";
  }
  const json& confirmed = s["confirmed"];
  const json& staged = s["staged"];
  if (confirmed.is_object()) {
    label("confirmed:") << "version " << text_of(confirmed["version"]) << " (" << policy_words(confirmed) << ")\n";
    const json& how = s["confirmation"];
    if (how.is_object()) {
      out << std::string(17, ' ') << (how["manual"].get<bool>() ? "confirmed by hand " : "confirmed by the prober ")
          << text_of(how["at"]);
      if (!text_of(how["reason"]).empty()) out << ": " << text_of(how["reason"]);
      out << "\n";
    }
  } else {
    label("confirmed:") << "none\n";
  }
  if (!staged.is_object()) {
    label("staged:") << "none (stage one: stsctl policy stage " << domain << " --mode ... --mx ... --max-age ...)\n";
  } else if (s["pending"].get<bool>()) {
    label("staged:") << "version " << text_of(staged["version"]) << " (" << policy_words(staged) << ")\n"
                     << std::string(17, ' ') << "waiting for confirmation; senders "
                     << (confirmed.is_object() ? "keep getting version " + text_of(confirmed["version"])
                                               : std::string("see no policy"))
                     << " until then\n";
  } else {
    label("staged:") << "version " << text_of(staged["version"]) << " is the confirmed one; nothing waiting\n";
  }
  if (s["hold"].is_object()) {
    label("hold:") << "since " << text_of(s["hold"]["since"]) << ": " << text_of(s["hold"]["reason"])
                   << " (the id does not rotate while held)\n";
  }
  const auto retiring = retirement_lines(s);
  for (size_t i = 0; i < retiring.size(); ++i)
    (i == 0 ? label("retiring:") : out << std::string(17, ' ')) << retiring[i] << "\n";
  const auto rotation = s["rotation_seconds"].is_number() ? s["rotation_seconds"].get<int64_t>() : 0;
  const auto offset = s["rotation_offset_seconds"].is_number() ? s["rotation_offset_seconds"].get<int64_t>() : 0;
  if (s["rotation_held"].is_boolean() && s["rotation_held"].get<bool>()) {
    label("next rotation:") << "HELD since " << text_of(s["rotation_held_since"])
                            << ": no vantage evidence yet that the confirmed version is served everywhere; the id "
                               "jumps to the current period once there is (see confirm: below)\n";
  } else if (auto next = parse_iso(s["next_rotation"]); next && now) {
    label("next rotation:") << text_of(s["next_rotation"]) << " (in " << duration_words(*next - *now)
                            << "), then every " << duration_words(rotation) << " at this domain's offset "
                            << clock_words(offset) << (s["rotate_until"].is_string() ? ", once verified" : "")
                            << "\n";
  } else if (s["served_id"].is_string()) {
    label("next rotation:") << "none while the hold is set\n";
  }
  const json& settings = s["settings"];
  if (settings.is_object()) {
    if (settings["tlsrpt_record"].is_string()) {
      label("TLS-RPT:") << "_smtp._tls." << domain << " TXT \"" << text_of(settings["tlsrpt_record"]) << "\"\n";
    } else {
      label("TLS-RPT:") << "not published\n";
    }
    if (settings["vantages"].is_array() && !settings["vantages"].empty()) {
      label("vantages:") << join(settings["vantages"], ", ") << "\n";
    }
  }
  if (s["extensions"].is_object()) {
    for (const auto& [name, section] : s["extensions"].items()) {
      if (section.is_object() && section["lines"].is_array()) {
        label(name + ":") << (section["lines"].empty() ? "" : text_of(section["lines"][0])) << "\n";
        for (size_t i = 1; i < section["lines"].size(); ++i)
          out << std::string(17, ' ') << text_of(section["lines"][i]) << "\n";
      } else {
        label(name + ":") << section.dump() << "\n";
      }
    }
  }
  if (s["events"].is_array() && !s["events"].empty()) {
    out << "  recent events (newest first):\n";
    for (const auto& event : s["events"]) {
      out << "    " << text_of(event["at"]) << "  " << text_of(event["kind"]);
      if (event["version"].is_number()) out << " v" << text_of(event["version"]);
      if (!text_of(event["detail"]).empty()) out << ": " << text_of(event["detail"]);
      out << "\n";
    }
  }
}

}  // namespace stsctl
