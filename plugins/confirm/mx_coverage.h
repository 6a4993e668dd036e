#pragma once
// MX hosts against the mx patterns of a policy (RFC 8461 §4.1: `*.` covers exactly one
// label), for the stage check and for `stsctl check`.
#include <string>
#include <vector>

#include "checks.h"
#include "resolver.h"

namespace stsd::confirm {

// The first of `patterns` that covers `host`, or "" when none does.
std::string matching_pattern(const std::vector<std::string>& patterns, const std::string& host);

// What the MX lookup of `domain` (already normalized) means for a policy with `patterns`:
// no MX records make the domain itself the mail host (RFC 5321 §5.1), a null MX
// (RFC 7505) needs nothing, and a domain that does not exist receives no mail.
MxCoverage mx_coverage(const std::string& domain, const MxLookup& mx, const std::vector<std::string>& patterns);

}  // namespace stsd::confirm
