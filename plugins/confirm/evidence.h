#pragma once
// Whether a round is evidence for an id change (README "Verified id changes"): every
// vantage served exactly the confirmed version (its digest, or a 304 against the ETag
// seen with it). Anything else keeps the id where it is, and says why in plain words,
// naming the vantage: another version (older, or the staged one not confirmed yet), a
// foreign or unparsable file, a timeout, a TLS or certificate error, or no vantage at all.
#include <string>
#include <string_view>

#include "tracker.h"

namespace stsd::confirm {

struct Evidence {
  bool verified = false;
  std::string detail;   // what was seen, for the event log and `stsctl status`
  std::string vantage;  // the first vantage that was not right; "" when none could be probed
  std::string reason;   // its short label for metrics: "older-version", "timeout", "no-vantage"...
};

// `round.confirmed` is the version the evidence is about; a round without one is never
// evidence.
Evidence judge_evidence(const RoundInput& round);

// The short label of what a vantage served instead of the confirmed version:
// "staged-version", "older-version", "other-policy", "unparsable", or the fetch error's
// name ("timeout", "tls", "certificate-expired", ...). Empty for the confirmed version.
std::string_view unverified_reason(const VantageOutcome& outcome);

// What a vantage serves, in words that stand alone after "rotation held: ...".
std::string served_words(const VantageOutcome& outcome);

}  // namespace stsd::confirm
