#include "outcome_json.h"

#include <string>

#include "store/policy_store.h"

namespace stsd::confirm {

nlohmann::json time_or_null(const std::optional<TimePoint>& time) {
  if (!time) return nullptr;
  return store::unix_seconds(*time);
}

nlohmann::json outcome_json(const VantageOutcome& outcome) {
  return {{"vantage", outcome.vantage},
          {"label", outcome.label},
          {"served", served_name(outcome.served)},
          {"version", outcome.version},
          {"error", outcome.served == Served::Error ? std::string(fetch_error_name(outcome.error)) : std::string()},
          {"words", outcome.words},
          {"certificate_not_after", time_or_null(outcome.certificate_not_after)},
          {"elapsed_ms", outcome.elapsed.count()}};
}

}  // namespace stsd::confirm
