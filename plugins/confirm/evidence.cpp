#include "evidence.h"

#include "join.h"

namespace stsd::confirm {

std::string_view unverified_reason(const VantageOutcome& outcome) {
  switch (outcome.served) {
    case Served::Confirmed:
      return "";
    case Served::Staged:
      return "staged-version";
    case Served::Older:
      return "older-version";
    case Served::Other:
      return "other-policy";
    case Served::Unparsable:
      return "unparsable";
    case Served::Error:
      return fetch_error_name(outcome.error);
  }
  return "error";
}

std::string served_words(const VantageOutcome& outcome) {
  // A staged version on an edge is expected before its confirmation (RFC 8461 §8.1), but
  // a rotation now would hand senders that file under the confirmed version's id.
  if (outcome.served == Served::Staged) return outcome.words + " (staged, not confirmed yet)";
  return outcome.words;
}

Evidence judge_evidence(const RoundInput& round) {
  Evidence evidence;
  if (!round.confirmed) {
    evidence.detail = "nothing is confirmed";
    evidence.reason = "nothing-confirmed";
    return evidence;
  }
  const std::string version = "version " + std::to_string(*round.confirmed);
  if (round.setup_error || round.outcomes.empty()) {
    evidence.detail = round.setup_error ? *round.setup_error : "no vantage to probe";
    evidence.reason = "no-vantage";
    return evidence;
  }
  std::vector<std::string> problems, labels;
  for (const auto& outcome : round.outcomes) {
    labels.push_back(outcome.label);
    if (outcome.served == Served::Confirmed && outcome.version == *round.confirmed) continue;
    if (evidence.vantage.empty()) {
      evidence.vantage = outcome.vantage;
      evidence.reason = std::string(unverified_reason(outcome));
    }
    problems.push_back(served_words(outcome));
  }
  evidence.verified = problems.empty();
  evidence.detail =
      evidence.verified ? version + " served by every vantage (" + join(labels, ", ") + ")" : join(problems, "; ");
  return evidence;
}

}  // namespace stsd::confirm
