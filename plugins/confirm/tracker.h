#pragma once
// The confirmation rule and the drift watch as a pure state machine (no I/O, no clock of
// its own), so that tests can drive it with a ManualClock.
//
// Rule (issue 4): a staged version is confirmed only after every vantage served it on K
// consecutive probe rounds, the first and the last of them at least `soak` apart. A round
// in which any vantage fails or still serves something else resets the count, and so
// does a change in the set of vantages (a new edge has not been watched for the soak).
//
// Drift: once a version is confirmed, every round also checks that each vantage serves
// the confirmed version (or the staged one, which RFC 8461 §8.1 says appears first). A
// vantage serving anything else (another policy, an error) is drift: the id must not
// rotate, since a rotation invites every sender to fetch — and cache — what is served.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fetcher.h"

namespace stsd::confirm {

using TimePoint = std::chrono::system_clock::time_point;

// What one vantage served in one round, compared with the domain's versions.
enum class Served : uint8_t {
  Staged,      // the pending (staged, unconfirmed) version
  Confirmed,   // the confirmed version
  Older,       // an older version of the domain (a stale cache)
  Other,       // a valid policy that matches no version stsd knows
  Unparsable,  // fetched, but not a valid RFC 8461 policy
  Error,       // nothing usable fetched (see `error`)
};
std::string_view served_name(Served served);  // "staged", "confirmed", ...

struct VantageOutcome {
  Vantage endpoint;
  std::string vantage;  // "127.0.0.11:8443"
  std::string label;    // "edge 127.0.0.11:8443" or "host 192.0.2.7"
  Served served = Served::Error;
  uint32_t version = 0;  // for Staged, Confirmed and Older
  FetchError error = FetchError::None;
  std::string words;        // plain words: "still serves version 3", "certificate ... expired 2 days ago"
  std::string fingerprint;  // identifies what was served (digest or error kind), for drift
  std::optional<TimePoint> certificate_not_after;
  std::chrono::milliseconds elapsed{0};
  std::vector<std::string> mx;  // the mx patterns of the policy served, when it parsed
  // The ETag that came with a known version (`etag_version`), to ask with next time;
  // `not_modified`: the vantage answered 304 to that ETag (it still serves that version).
  std::string etag;
  uint32_t etag_version = 0;
  bool not_modified = false;
};

struct RoundInput {
  TimePoint started;                // before the first fetch: evidence counts from here
  TimePoint at;                     // when the last answer came
  std::optional<uint32_t> pending;  // staged version newer than the confirmed one
  std::optional<uint32_t> confirmed;
  // Set when the vantages could not even be determined (e.g. mta-sts.<domain> does not
  // resolve): the round fails with these words and `outcomes` is empty.
  std::optional<std::string> setup_error;
  std::vector<VantageOutcome> outcomes;
};

struct RoundVerdict {
  bool confirm = false;                // confirm `pending` now
  std::string confirm_detail;          // what was seen, for the event log
  bool drift = false;                  // some vantage serves neither confirmed nor staged
  std::string drift_reason;            // plain words
  std::string drift_fingerprint;       // what the drift looks like (changes when it changes)
  bool failed = false;                 // a fetch error or a wrong policy (drives the backoff)
  std::chrono::seconds next_delay{0};  // before the next round, without jitter
  std::string summary;                 // the domain's probe state in plain words
};

struct TrackerSettings {
  uint32_t probes = 3;
  std::chrono::seconds soak{600};
  std::chrono::seconds interval{60};
  std::chrono::seconds drift_interval{3600};
  std::chrono::seconds max_backoff{900};
};

class DomainTracker {
 public:
  explicit DomainTracker(TrackerSettings settings) : settings_(settings) {}

  RoundVerdict record(const RoundInput& round);
  void update_settings(TrackerSettings settings) { settings_ = settings; }

  uint32_t streak() const { return streak_; }
  std::optional<TimePoint> streak_started() const { return streak_started_; }
  std::optional<uint32_t> target() const { return target_; }
  uint32_t consecutive_failures() const { return failures_; }

 private:
  std::chrono::seconds backoff_delay(std::chrono::seconds base) const;

  TrackerSettings settings_;
  std::optional<uint32_t> target_;  // the version the streak is about
  std::string vantage_set_;         // the vantages of the streak (sorted, joined)
  uint32_t streak_ = 0;
  std::optional<TimePoint> streak_started_;
  uint32_t failures_ = 0;  // consecutive failed rounds
};

}  // namespace stsd::confirm
