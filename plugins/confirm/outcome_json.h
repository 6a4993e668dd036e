#pragma once
// The JSON form of what a vantage served, shared by `stsctl status` (probe_status) and
// `stsctl check` (run_check); the fields are listed in checks.h.
#include <optional>

#include <nlohmann/json.hpp>

#include "tracker.h"

namespace stsd::confirm {

nlohmann::json outcome_json(const VantageOutcome& outcome);
// Unix seconds, or null when the time is not known.
nlohmann::json time_or_null(const std::optional<TimePoint>& time);

}  // namespace stsd::confirm
