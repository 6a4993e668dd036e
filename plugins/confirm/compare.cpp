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
  if (fetched.not_modified) {
    // RFC 9110 §13.1.2: the vantage still serves the body recorded with this ETag, which
    // was version `etag_version` (its digest was checked when it came).
    outcome.not_modified = true;
    name_version(versions, target, target.etag_version, outcome);
    outcome.etag = fetched.etag;
    outcome.etag_version = target.etag_version;
    return outcome;
  }
  compare_body(versions, target, fetched.body, outcome);
  // The ETag that came with a body of a known version: the next round may ask with it.
  const bool known = outcome.served == Served::Staged || outcome.served == Served::Confirmed ||
                     outcome.served == Served::Older;
  if (known && !fetched.etag.empty()) {
    outcome.etag = fetched.etag;
    outcome.etag_version = outcome.version;
  }
  return outcome;
}

void ConfirmEngine::compare_body(const Versions& versions, const Target& target, const std::string& body,
                                 VantageOutcome& outcome) const {
  auto parsed = store::parse_policy(body);
  if (!parsed.policy) {
    outcome.served = Served::Unparsable;
    const auto& first = parsed.errors.empty() ? store::Diagnostic{0, "not a policy"} : parsed.errors.front();
    outcome.words =
        target.label + " serves a file senders reject (line " + std::to_string(first.line) + ": " + first.message + ")";
    outcome.fingerprint = "unparsable:" + std::to_string(std::hash<std::string>{}(body));
    return;
  }
  const store::Policy& policy = *parsed.policy;
  outcome.fingerprint = store::policy_digest(policy);
  outcome.mx = policy.mx;
  if (versions.pending && versions.staged && store::same_policy(policy, versions.staged->policy))
    return name_version(versions, target, versions.staged->number, outcome);
  if (versions.confirmed && store::same_policy(policy, versions.confirmed->policy))
    return name_version(versions, target, versions.confirmed->number, outcome);
  // A stale cache serving an older version is the common CDN failure: say which.
  if (auto older = older_version_of(versions, policy)) return name_version(versions, target, *older, outcome);
  outcome.served = Served::Other;
  outcome.words = target.label + " serves a policy that matches no version of " + versions.domain + " (" +
                  describe_policy(policy) + ")";
}

void ConfirmEngine::name_version(const Versions& versions, const Target& target, uint32_t number,
                                 VantageOutcome& outcome) const {
  outcome.version = number;
  const std::string version = "version " + std::to_string(number);
  if (versions.pending && versions.staged && versions.staged->number == number) {
    outcome.served = Served::Staged;
    outcome.words = target.label + " serves " + version;
    if (outcome.fingerprint.empty()) outcome.fingerprint = versions.staged->digest;
  } else if (versions.confirmed && versions.confirmed->number == number) {
    outcome.served = Served::Confirmed;
    outcome.words = target.label + (versions.pending ? " still serves " : " serves ") + version;
    if (outcome.fingerprint.empty()) outcome.fingerprint = versions.confirmed->digest;
  } else {
    outcome.served = Served::Older;
    outcome.words = target.label + " still serves " + version + " (older than the " +
                    (versions.confirmed ? "confirmed version " + std::to_string(versions.confirmed->number)
                                        : std::string("staged version")) +
                    ")";
    if (outcome.fingerprint.empty()) outcome.fingerprint = "version:" + std::to_string(number);
  }
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
