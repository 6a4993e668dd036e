#pragma once
// What stsctl says about a domain's retirement (RFC 8461 §8.3), from the admin API's
// status document (its "retirement", "staged" and "confirmed" fields).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stsctl {

// The lines of `status` under "retiring:"; empty when the domain is not being retired.
std::vector<std::string> retirement_lines(const nlohmann::json& status);

// What `domain retire` (retired = true) or `domain unretire` did, and what comes next.
std::string retirement_change_text(bool retired, const nlohmann::json& status);

}  // namespace stsctl
