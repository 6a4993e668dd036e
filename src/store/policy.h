#pragma once
// MTA-STS policies (RFC 8461 §3.2): the model, THE parser (store, admin API, stsctl,
// confirmer), the validator of policies built from fields, the canonical renderer, the
// content digest, and mx pattern matching (§4.1).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stsd::store {

enum class Mode { Enforce, Testing, None };
std::string_view mode_name(Mode mode);                        // "enforce", "testing", "none"
std::optional<Mode> mode_from_string(std::string_view text);  // exact, lowercase

inline constexpr uint32_t kMaxMaxAge = 31557600;      // RFC 8461 §3.2
inline constexpr uint32_t kShortMaxAge = 86400;       // below this: warning
inline constexpr size_t kMaxPolicyBytes = 64 * 1024;  // RFC 8461 §3.3 suggested fetch limit

struct Policy {
  Mode mode = Mode::Enforce;
  std::vector<std::string> mx;  // patterns: "mx1.example.com" or "*.example.com"
  uint32_t max_age = 604800;
};

struct Diagnostic {
  int line = 0;  // 1-based line of the policy text; 0 when not from text
  std::string message;
};

struct ParsedPolicy {
  std::optional<Policy> policy;  // set when there are no errors
  std::vector<Diagnostic> errors, warnings;
};

// RFC 8461 §3.2 parser and validator (LF or CRLF); reports errors and warnings by line.
// mx patterns are lowercased.
ParsedPolicy parse_policy(std::string_view text);
// Errors of a Policy built from fields (CLI flags, CSV, YAML): empty means valid.
std::vector<Diagnostic> policy_errors(const Policy& policy);
// Warnings (short max_age, max_age lower than the confirmed version's, duplicate mx...).
std::vector<Diagnostic> policy_warnings(const Policy& policy, const Policy* confirmed);
// The canonical text every known sender accepts: `version: STSv1` first, CRLF, one space
// after each colon, no blank lines, no duplicate keys, ASCII, at least one mx line, mx
// lines in the given order (lowercased, duplicates dropped). The policy must be valid.
std::string render_policy(const Policy& policy);
// `policy` with its mx patterns as render_policy writes them (lowercased, duplicates
// dropped, order kept): the form the store keeps.
Policy normalized_policy(const Policy& policy);
// SHA-256 (lowercase hex) of render_policy(policy): the content digest.
std::string policy_digest(const Policy& policy);
// Semantic equality: mode, max_age, and mx as a case-insensitive set.
bool same_policy(const Policy& a, const Policy& b);
// RFC 8461 §4.1: case-insensitive; "*." covers exactly one leftmost label; a trailing dot
// on `host` is ignored.
bool mx_pattern_matches(std::string_view pattern, std::string_view host);
// An mx pattern's error (empty when valid): host name or "*." + host name, never an IP.
std::string mx_pattern_error(std::string_view pattern);

}  // namespace stsd::store
