#pragma once
// Steps the store's writers share, inside the write frame (writers.cpp, retirement.cpp).
#include <string>
#include <string_view>
#include <vector>

#include "store/disk.h"
#include "store/domain_record.h"
#include "store/retirement.h"
#include "store/transaction.h"

namespace stsd::store {

// Stages `policy` (checked by the caller) as the domain's next version: the version and
// its `staged` event (detail suffixed with `event_suffix`); the caller writes `record`.
// Cancels a retirement when the policy is not `none` (retirement_after_stage).
// `digest`: policy_digest(policy) when the caller has it already.
PolicyVersion stage_version(Transaction& tx, const std::string& domain, DomainRecord& record, const Policy& policy,
                            std::string_view event_suffix, std::string digest = {});

// --- retirement.cpp ---
// After `version` was staged into `record`: a policy other than `none` cancels the
// retirement (event `retirement_cancelled`). The caller writes `record`.
void retirement_after_stage(Transaction& tx, const std::string& domain, DomainRecord& record,
                            const PolicyVersion& version);
// After a confirmation was written: when the confirmed version is the retirement's `none`
// version (or a newer `none`), fixes the removal time (event `retirement_scheduled`) and
// writes `record` again.
void retirement_after_confirm(Transaction& tx, const std::string& domain, DomainRecord& record);
// remove_domain's check (RFC 8461 §8.3): throws RetirementConflict while a sender may hold
// a policy of the domain other than `none`, unless `check` is Force; returns the detail of
// the `removed` event ("" or what the removal was forced past).
std::string removal_detail(const Transaction& tx, const std::string& domain, const DomainRecord& record,
                           RemovalCheck check);
// The retiring domains whose removal time is fixed (keys::retiring).
std::vector<ScheduledRemoval> scan_scheduled_removals(const Disk& disk);

}  // namespace stsd::store
