// Policies (RFC 8461 §3.2): parsing, validation, rendering, the digest and mx matching.
#include "store/policy.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <stdexcept>

#include "store/ascii.h"
#include "store/names.h"
#include "store/sha256.h"

namespace stsd::store {

namespace {

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 8461 §3.2: sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool valid_field_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  if (!ascii::is_alpha(name[0]) && !ascii::is_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return ascii::is_alpha(c) || ascii::is_digit(c) || c == '_' || c == '-' || c == '.';
  });
}

// The patterns lowercased, each once, in their first position; `repeated` (when given)
// receives the positions of the later copies. A policy has a handful of patterns: they
// are compared in place below a few dozen, through a set above.
std::vector<std::string> unique_lowercase(const std::vector<std::string>& patterns,
                                          std::vector<size_t>* repeated = nullptr) {
  constexpr size_t kLinearUpTo = 32;
  std::vector<std::string> out;
  out.reserve(patterns.size());
  std::set<std::string_view> seen;
  for (size_t i = 0; i < patterns.size(); ++i) {
    auto l = ascii::lowercase(patterns[i]);
    const bool again = patterns.size() <= kLinearUpTo ? std::find(out.begin(), out.end(), l) != out.end()
                                                      : seen.count(l) > 0;
    if (again) {
      if (repeated) repeated->push_back(i);
      continue;
    }
    out.push_back(std::move(l));
    if (patterns.size() > kLinearUpTo) seen.insert(out.back());  // reserved: out never moves its strings
  }
  return out;
}

std::string missing_mx_message(Mode mode) {
  if (mode == Mode::None)
    return "mode none still needs at least one mx pattern (some senders, e.g. Stalwart, reject a policy without "
           "one); list the current MX hosts";
  return "at least one mx pattern is required in mode " + std::string(mode == Mode::Enforce ? "enforce" : "testing") +
         " (RFC 8461 §3.2)";
}

}  // namespace

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::Enforce:
      return "enforce";
    case Mode::Testing:
      return "testing";
    case Mode::None:
      return "none";
  }
  return "none";
}

std::optional<Mode> mode_from_string(std::string_view text) {
  if (text == "enforce") return Mode::Enforce;
  if (text == "testing") return Mode::Testing;
  if (text == "none") return Mode::None;
  return std::nullopt;
}

std::string mx_pattern_error(std::string_view pattern) {
  if (pattern.empty()) return "mx pattern is empty";
  std::string_view host = pattern;
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.find('*') != std::string_view::npos)
    return "mx pattern '" + std::string(pattern) +
           "': a wildcard is only allowed as the whole leftmost label (\"*.example.com\", RFC 8461 §3.2)";
  if (looks_like_ip(host))
    return "mx pattern '" + std::string(pattern) + "' is an IP address; mx patterns are host names (RFC 8461 §4.1)";
  auto error = host_name_error(host, 2);
  if (!error.empty()) return "mx pattern '" + std::string(pattern) + "' " + error;
  return {};
}

bool mx_pattern_matches(std::string_view pattern, std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!pattern.empty() && pattern.back() == '.') pattern.remove_suffix(1);
  if (pattern.starts_with("*.")) {
    // RFC 8461 §4.1: the wildcard matches exactly one label: "*.example.com" matches
    // "mx.example.com" but neither "example.com" nor "a.b.example.com".
    const auto base = pattern.substr(2);
    const auto dot = host.find('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    return ascii::iequals(host.substr(dot + 1), base);
  }
  return ascii::iequals(pattern, host);
}

std::vector<Diagnostic> policy_errors(const Policy& policy) {
  std::vector<Diagnostic> errors;
  if (policy.mx.empty()) errors.push_back({0, missing_mx_message(policy.mode)});
  for (const auto& pattern : policy.mx) {
    auto error = mx_pattern_error(pattern);
    if (!error.empty()) errors.push_back({0, std::move(error)});
  }
  if (policy.max_age > kMaxMaxAge)
    errors.push_back({0, "max_age " + std::to_string(policy.max_age) + " exceeds the maximum " +
                             std::to_string(kMaxMaxAge) + " (RFC 8461 §3.2)"});
  // The rendered size is at most the fixed lines plus each pattern's line: rendered only
  // when that bound could pass the limit.
  size_t bound = 64;
  for (const auto& pattern : policy.mx) bound += pattern.size() + 6;
  if (errors.empty() && bound > kMaxPolicyBytes && render_policy(policy).size() > kMaxPolicyBytes)
    errors.push_back({0, "the policy file would exceed 64 KiB, which senders refuse to fetch (RFC 8461 §3.3)"});
  return errors;
}

std::vector<Diagnostic> policy_warnings(const Policy& policy, const Policy* confirmed) {
  std::vector<Diagnostic> warnings;
  if (policy.max_age < kShortMaxAge)
    warnings.push_back({0, "max_age " + std::to_string(policy.max_age) +
                               " is under one day: lowering max_age weakens protection; keep it long and let the id "
                               "rotation keep senders fresh"});
  if (confirmed && policy.max_age < confirmed->max_age)
    warnings.push_back({0, "max_age lowered from " + std::to_string(confirmed->max_age) + " to " +
                               std::to_string(policy.max_age) +
                               ": senders that cached the confirmed policy keep it for up to " +
                               std::to_string(confirmed->max_age) + " seconds anyway"});
  std::vector<size_t> repeated;
  unique_lowercase(policy.mx, &repeated);
  for (size_t i : repeated)
    warnings.push_back({0, "mx pattern '" + policy.mx[i] + "' is listed twice; it is rendered once"});
  if (policy.mode == Mode::None && confirmed && confirmed->mode != Mode::None)
    warnings.push_back({0,
                        "mode none switches MTA-STS off; to remove it, keep serving mode none until the previous "
                        "max_age has passed (RFC 8461 §8.3)"});
  return warnings;
}

ParsedPolicy parse_policy(std::string_view text) {
  ParsedPolicy result;
  auto error = [&](int line, std::string message) { result.errors.push_back({line, std::move(message)}); };
  auto warning = [&](int line, std::string message) { result.warnings.push_back({line, std::move(message)}); };

  if (text.size() > kMaxPolicyBytes) {
    error(0, "the policy is larger than 64 KiB, which senders refuse (RFC 8461 §3.3)");
    return result;
  }
  if (text.empty()) {
    error(0, "the policy is empty");
    return result;
  }

  Policy policy;
  int version_line = 0, mode_line = 0, max_age_line = 0, first_mx_line = 0;
  int line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_number;
    size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    bool bad_byte = false;
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) {
        error(line_number, "non-ASCII character (senders decode the policy as ASCII)");
        bad_byte = true;
        break;
      }
      if ((u < 0x20 && c != '\t') || u == 0x7f) {
        error(line_number, u == '\r' ? "stray carriage return (lines end with LF or CRLF)" : "control character");
        bad_byte = true;
        break;
      }
    }
    if (bad_byte) continue;
    if (trim_wsp(line).empty()) {
      error(line_number, "blank line (RFC 8461 §3.2 has none; mox, maddy and postfix-tlspol reject the policy)");
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      error(line_number, "expected 'key: value'");
      continue;
    }
    const std::string_view key = line.substr(0, colon);
    std::string_view raw_value = line.substr(colon + 1);
    if (key != trim_wsp(key) || key.empty()) {
      error(line_number, "whitespace around the field name '" + std::string(trim_wsp(key)) +
                             "' (RFC 8461 §3.2 allows none before ':'; postfix-mta-sts-resolver does not trim keys)");
      continue;
    }
    if (!raw_value.empty() && raw_value.front() != ' ' && raw_value.front() != '\t')
      warning(line_number, "no space after ':' (valid, but stsd renders 'key: value')");
    const std::string_view value = trim_wsp(raw_value);

    if (key == "version") {
      if (version_line) {
        error(line_number, "duplicate version field (first on line " + std::to_string(version_line) + ")");
        continue;
      }
      version_line = line_number;
      if (line_number != 1) error(line_number, "version must be the first field (RFC 8461 §3.2)");
      if (value != "STSv1") error(line_number, "version must be STSv1, got '" + std::string(value) + "'");
    } else if (key == "mode") {
      if (mode_line) {
        error(line_number, "duplicate mode field (first on line " + std::to_string(mode_line) + ")");
        continue;
      }
      mode_line = line_number;
      auto mode = mode_from_string(value);
      if (!mode)
        error(line_number, "mode must be enforce, testing or none, got '" + std::string(value) + "'");
      else
        policy.mode = *mode;
    } else if (key == "max_age") {
      if (max_age_line) {
        error(line_number, "duplicate max_age field (first on line " + std::to_string(max_age_line) + ")");
        continue;
      }
      max_age_line = line_number;
      uint64_t seconds = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (value.empty() || value.size() > 10 || ec != std::errc() || ptr != value.data() + value.size()) {
        error(line_number, "max_age must be a number of seconds (1 to 10 digits), got '" + std::string(value) + "'");
      } else if (seconds > kMaxMaxAge) {
        error(line_number, "max_age " + std::to_string(seconds) + " exceeds the maximum " + std::to_string(kMaxMaxAge) +
                               " (RFC 8461 §3.2)");
      } else {
        policy.max_age = static_cast<uint32_t>(seconds);
      }
    } else if (key == "mx") {
      if (!first_mx_line) first_mx_line = line_number;
      auto problem = mx_pattern_error(value);
      if (!problem.empty())
        error(line_number, problem);
      else
        policy.mx.push_back(std::string(value));
    } else if (ascii::iequals(key, "version") || ascii::iequals(key, "mode") || ascii::iequals(key, "max_age") ||
               ascii::iequals(key, "mx")) {
      error(line_number, "field names are case-sensitive: write '" + ascii::lowercase(key) + "'");
    } else if (!valid_field_name(key)) {
      error(line_number, "invalid field name '" + std::string(key) + "'");
    } else {
      warning(line_number, "unknown field '" + std::string(key) + "' is ignored by senders and not rendered by stsd");
    }
  }

  if (!version_line) error(1, "missing 'version: STSv1' (it must be the first line)");
  if (!mode_line) error(0, "missing mode field");
  if (!max_age_line) error(0, "missing max_age field");
  if (!first_mx_line) error(0, missing_mx_message(policy.mode));
  if (!result.errors.empty()) return result;

  for (auto& w : policy_warnings(policy, nullptr)) result.warnings.push_back(std::move(w));
  policy.mx = unique_lowercase(policy.mx);
  result.policy = std::move(policy);
  return result;
}

std::string render_policy(const Policy& policy) {
  // The form every known sender accepts (MTA-STS-FACTS.md): version first, one space after
  // each colon, CRLF, no blank line, each key once, mx lines in the given order.
  std::string out;
  out.reserve(48 + policy.mx.size() * 32);
  out += "version: STSv1\r\nmode: ";
  out += mode_name(policy.mode);
  out += "\r\n";
  for (const auto& pattern : unique_lowercase(policy.mx)) {
    out += "mx: ";
    out += pattern;
    out += "\r\n";
  }
  out += "max_age: ";
  out += std::to_string(policy.max_age);
  out += "\r\n";
  return out;
}

std::string policy_digest(const Policy& policy) { return sha256_hex(render_policy(policy)); }

bool same_policy(const Policy& a, const Policy& b) {
  if (a.mode != b.mode || a.max_age != b.max_age) return false;
  auto sa = unique_lowercase(a.mx), sb = unique_lowercase(b.mx);
  std::sort(sa.begin(), sa.end());
  std::sort(sb.begin(), sb.end());
  return sa == sb;
}

Policy normalized_policy(const Policy& policy) {
  Policy out = policy;
  out.mx = unique_lowercase(policy.mx);
  return out;
}

}  // namespace stsd::store
