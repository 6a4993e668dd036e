// Which version of the domain a vantage served: the fetched file is parsed with the
// store's parser and compared semantically (mode, max_age, mx patterns as a set) with the
// staged and confirmed versions, then with a few older ones.
#include "confirmer.h"

#include <algorithm>
#include <functional>

#include "join.h"

namespace stsd::confirm {

namespace {

// How far back a vantage's policy is looked for among older versions (a stale cache).
constexpr uint32_t kOlderVersionsToCompare = 20;

std::string describe_policy(const store::Policy& policy) {
  return "mode " + std::string(store::mode_name(policy.mode)) + ", max_age " + std::to_string(policy.max_age) +
         ", mx " + (policy.mx.empty() ? std::string("(none)") : join(policy.mx, " "));
}

}  // namespace

VantageOutcome ConfirmEngine::compare(const Versions& versions, const Target& target, FetchResult fetched) const {
  VantageOutcome outcome;
  outcome.endpoint = target.vantage;
  outcome.vantage = target.vantage.to_string();
  outcome.label = target.label;
  outcome.error = fetched.error;
  outcome.certificate_not_after = fetched.certificate_not_after;
  outcome.elapsed = fetched.elapsed;
  if (!fetched.ok()) {
    outcome.served = Served::Error;
    outcome.words = target.label + ": " + fetched.message;
    outcome.fingerprint = std::string(fetch_error_name(fetched.error));
    return outcome;
  }
  auto parsed = store::parse_policy(fetched.body);
  if (!parsed.policy) {
    outcome.served = Served::Unparsable;
    const auto& first = parsed.errors.empty() ? store::Diagnostic{0, "not a policy"} : parsed.errors.front();
    outcome.words =
        target.label + " serves a file senders reject (line " + std::to_string(first.line) + ": " + first.message + ")";
    outcome.fingerprint = "unparsable:" + std::to_string(std::hash<std::string>{}(fetched.body));
    return outcome;
  }
  const store::Policy& policy = *parsed.policy;
  outcome.fingerprint = store::policy_digest(policy);
  outcome.mx = policy.mx;
  if (versions.pending && versions.staged && store::same_policy(policy, versions.staged->policy)) {
    outcome.served = Served::Staged;
    outcome.version = versions.staged->number;
    outcome.words = target.label + " serves version " + std::to_string(outcome.version);
    return outcome;
  }
  if (versions.confirmed && store::same_policy(policy, versions.confirmed->policy)) {
    outcome.served = Served::Confirmed;
    outcome.version = versions.confirmed->number;
    outcome.words = target.label + (versions.pending ? " still serves version " : " serves version ") +
                    std::to_string(outcome.version);
    return outcome;
  }
  // A stale cache serving an older version is the common CDN failure: say which.
  if (auto older = older_version_of(versions, policy)) {
    outcome.served = Served::Older;
    outcome.version = *older;
    outcome.words = target.label + " still serves version " + std::to_string(*older) + " (older than the " +
                    (versions.confirmed ? "confirmed version " + std::to_string(versions.confirmed->number)
                                        : std::string("staged version")) +
                    ")";
    return outcome;
  }
  outcome.served = Served::Other;
  outcome.words = target.label + " serves a policy that matches no version of " + versions.domain + " (" +
                  describe_policy(policy) + ")";
  return outcome;
}

std::optional<uint32_t> ConfirmEngine::older_version_of(const Versions& versions, const store::Policy& policy) const {
  uint32_t newest =
      std::max(versions.staged ? versions.staged->number : 0, versions.confirmed ? versions.confirmed->number : 0);
  for (uint32_t n = newest, looked = 0; n > 1 && looked < kOlderVersionsToCompare; ++looked) {
    --n;
    if ((versions.confirmed && n == versions.confirmed->number) || (versions.staged && n == versions.staged->number))
      continue;
    std::optional<store::PolicyVersion> older;
    try {
      older = state_->version(versions.domain, n);
    } catch (const std::exception&) {
      break;
    }
    if (older && store::same_policy(policy, older->policy)) return n;
  }
  return std::nullopt;
}

}  // namespace stsd::confirm
