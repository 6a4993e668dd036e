#pragma once
// Retiring a domain (RFC 8461 §8.3): what the store records while a domain is being
// retired, and when its records may go.
//
// `PolicyStore::retire` stages a `mode: none` policy (the confirmed policy's mx lines,
// max_age one day as §8.3 suggests) and records a Retirement. That version is confirmed
// like any other (by the confirmer, or by hand). Its confirmation fixes the removal time:
// the last moment a sender may still hold an earlier policy in its cache. Every earlier
// version other than `none` may have been fetched until the first confirmation of a newer
// version (until then some vantage may still serve it: the policy host serves the newest
// staged version, a CDN edge may lag behind), so a sender may hold it until that moment
// plus its max_age. The records are removed (by the retirement sweeper) at the largest such
// moment. Staging a policy other than `none` cancels the retirement, as does
// `PolicyStore::unretire`.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "store/errors.h"

namespace stsd::store {

struct PolicyVersion;

// The last moment any sender may hold a policy (other than `none`) of the domain.
struct CacheHorizon {
  int64_t until = 0;         // Unix seconds
  uint32_t version = 0;      // the version cached longest; 0: no such policy was ever served
  uint32_t max_age = 0;      // its max_age
  int64_t served_until = 0;  // when it stopped being served (a newer version's confirmation)
};

struct Retirement {
  int64_t since = 0;
  std::string reason;
  uint32_t version = 0;                 // the `mode: none` version that must be confirmed
  std::optional<CacheHorizon> removal;  // set once it is: the records go at removal->until
};

// A confirmation from the event log (`confirmed`, `manual_confirm`), in the log's order.
struct ConfirmationAt {
  uint32_t version = 0;
  int64_t at = 0;
};

// The cache horizon of `versions` older than `below` (RFC 8461 §8.3): each may have been
// served until the first of `confirmations` of a newer version, or until `still_served`
// when none follows it. `none` versions do not count (a cached `none` policy enforces
// nothing). At least `still_served` when nothing counts.
CacheHorizon cache_horizon(std::span<const PolicyVersion> versions, std::span<const ConfirmationAt> confirmations,
                           uint32_t below, int64_t still_served);

// How `PolicyStore::remove_domain` treats a domain whose policy senders may still hold.
enum class RemovalCheck {
  RefuseWhileCached,  // refuse while the confirmed policy is enforce or testing, or an
                      // earlier one may still be cached (RetirementConflict)
  Force,              // remove anyway (recorded in the `removed` event)
};

// A request the domain's place in its life refuses: removing it while senders may still
// hold its policy, retiring it twice or with nothing confirmed, cancelling a retirement
// that is not there. Nothing changed.
class RetirementConflict : public PolicyError {
 public:
  using PolicyError::PolicyError;
};

// A retiring domain whose removal time is fixed (PolicyStore::scheduled_removals).
struct ScheduledRemoval {
  std::string domain;
  int64_t at = 0;
};

}  // namespace stsd::store
