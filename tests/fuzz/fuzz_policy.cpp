// libFuzzer target for the MTA-STS policy parser: the confirmer feeds it whatever a
// policy host serves, and the admin API whatever an operator uploads. Beyond "no crash",
// it checks the round trip senders depend on: a policy the parser accepts is valid by
// policy_errors, renders to canonical ASCII/CRLF text, and that text parses back to the
// same policy with no error and no warning about its form.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/policy.h"

using namespace stsd::store;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_policy(text);
  if (parsed.policy.has_value() != parsed.errors.empty()) __builtin_trap();
  // The mx matcher and pattern checker see hostile strings too (from DNS and from users).
  const auto half = text.substr(0, size / 2), rest = text.substr(size / 2);
  (void)mx_pattern_matches(half, rest);
  (void)mx_pattern_error(half);
  if (!parsed.policy) return 0;

  const Policy& policy = *parsed.policy;
  if (!policy_errors(policy).empty()) __builtin_trap();
  const std::string canonical = render_policy(policy);
  if (canonical.rfind("version: STSv1\r\n", 0) != 0) __builtin_trap();
  for (size_t i = 0; i < canonical.size(); ++i) {
    const unsigned char c = canonical[i];
    if (c > 0x7e || (c < 0x20 && c != '\r' && c != '\n')) __builtin_trap();
    if (c == '\n' && (i == 0 || canonical[i - 1] != '\r')) __builtin_trap();  // CRLF only
  }
  const auto again = parse_policy(canonical);
  if (!again.policy || !again.errors.empty() || !same_policy(policy, *again.policy)) __builtin_trap();
  if (render_policy(*again.policy) != canonical) __builtin_trap();  // canonical is a fixed point
  if (policy_digest(*again.policy) != policy_digest(policy)) __builtin_trap();
  return 0;
}
