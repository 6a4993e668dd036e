// Retiring a domain (RFC 8461 §8.3, store/retirement.h): the cache horizon computed from
// the domain's history, the retirement's writers, and its part in staging, confirming and
// removing.
#include "store/retirement.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include "store/codecs.h"
#include "store/keys.h"
#include "store/policy_store.h"
#include "store/writer_steps.h"
#include "utc_time.h"

namespace stsd::store {

namespace {

// RFC 8461 §8.3: the `none` policy gets "a small max_age (e.g., one day)".
constexpr uint32_t kRetirementMaxAge = 86400;
constexpr size_t kMaxReason = 1024;

// Calls `each(key, value)` for every record under `prefix`, in key order.
template <class Each>
void scan_prefix(const Disk& disk, const std::string& prefix, Each each) {
  std::unique_ptr<rocksdb::Iterator> it(disk.db().NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string key = it->key().ToString();
    try {
      each(key, std::string_view(it->value().data(), it->value().size()));
    } catch (const StoreError&) {
      throw;
    } catch (const std::exception& e) {
      throw StoreError("store record " + key + " is corrupt: " + e.what());
    }
  }
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
}

// Every version of the domain in the store, oldest first.
std::vector<PolicyVersion> versions_of(const Disk& disk, const std::string& domain) {
  std::vector<PolicyVersion> versions;
  scan_prefix(disk, keys::version_prefix(domain),
              [&](const std::string&, std::string_view value) { versions.push_back(decode_version(value)); });
  return versions;
}

// The domain's confirmations, from its event log, oldest first.
std::vector<ConfirmationAt> confirmations_of(const Disk& disk, const std::string& domain) {
  std::vector<ConfirmationAt> confirmations;
  scan_prefix(disk, keys::event_prefix(domain), [&](const std::string&, std::string_view value) {
    const Event event = decode_event(value);
    if ((event.kind == "confirmed" || event.kind == "manual_confirm") && event.version != 0)
      confirmations.push_back({event.version, event.at});
  });
  return confirmations;
}

// The horizon of every version older than `none_version`, which was confirmed at
// `confirmed_at` (that confirmation may not be in the log yet: it is being written).
CacheHorizon horizon_before(const Disk& disk, const std::string& domain, uint32_t none_version, int64_t confirmed_at) {
  auto confirmations = confirmations_of(disk, domain);
  confirmations.push_back({none_version, confirmed_at});
  return cache_horizon(versions_of(disk, domain), confirmations, none_version, confirmed_at);
}

std::string version_words(const PolicyVersion& v) {
  return "version " + std::to_string(v.number) + " (" + std::string(mode_name(v.policy.mode)) + ", max_age " +
         std::to_string(v.policy.max_age) + ")";
}

// "records removed at T: version 2 (max_age 604800) was served until S".
std::string removal_words(const CacheHorizon& h, int64_t now) {
  if (h.version == 0)
    return "records removed " + (h.until > now ? "at " + iso8601(h.until) : std::string("now")) +
           ": no sender holds an earlier policy any more";
  return "records removed at " + iso8601(h.until) + ": version " + std::to_string(h.version) + " (max_age " +
         std::to_string(h.max_age) + ") was served until " + iso8601(h.served_until);
}

// Why a sender may still hold a policy of the domain other than `none`; nullopt when none can.
std::optional<std::string> still_cached(const Transaction& tx, const std::string& domain, const DomainRecord& r) {
  if (!r.confirmed) return std::nullopt;  // no TXT record was ever published: nobody fetched
  if (r.confirmed->policy.mode != Mode::None)
    return "its confirmed policy, " + version_words(*r.confirmed) +
           ", is published: senders that fetched it keep applying it for up to " +
           std::to_string(r.confirmed->policy.max_age) + " s after its records disappear (RFC 8461 §8.3)";
  // Versions newer than the confirmed one are still served (the policy host serves the
  // newest staged version): `still_served` is now.
  const auto horizon =
      cache_horizon(versions_of(tx.disk(), domain), confirmations_of(tx.disk(), domain), UINT32_MAX, tx.now());
  if (horizon.version == 0) return std::nullopt;
  // Every version up to the confirmed one ended when a newer one was confirmed.
  const bool still_served = horizon.version > r.confirmed->number;
  return "senders may hold version " + std::to_string(horizon.version) + " (max_age " +
         std::to_string(horizon.max_age) + ", " +
         (still_served ? std::string("staged, so served now") : "served until " + iso8601(horizon.served_until)) +
         ") until " + iso8601(horizon.until) + " (RFC 8461 §8.3)";
}

std::string retirement_progress(const Retirement& retirement, int64_t now) {
  if (retirement.removal) return removal_words(*retirement.removal, now);
  return "waiting for version " + std::to_string(retirement.version) + " (mode none) to be confirmed";
}

}  // namespace

CacheHorizon cache_horizon(std::span<const PolicyVersion> versions, std::span<const ConfirmationAt> confirmations,
                           uint32_t below, int64_t still_served) {
  CacheHorizon horizon{still_served, 0, 0, still_served};
  for (const auto& v : versions) {
    if (v.number >= below || v.policy.mode == Mode::None) continue;
    // Confirmations only move forward, so the first of a newer version ends this one's
    // service: from then on every vantage serves something newer.
    const auto next = std::find_if(confirmations.begin(), confirmations.end(),
                                   [&](const ConfirmationAt& c) { return c.version > v.number; });
    const int64_t served_until = next == confirmations.end() ? still_served : next->at;
    const int64_t until = served_until + v.policy.max_age;
    if (until > horizon.until) horizon = {until, v.number, v.policy.max_age, served_until};
  }
  return horizon;
}

void retirement_after_stage(Transaction& tx, const std::string& domain, DomainRecord& r, const PolicyVersion& v) {
  // Another `none` version keeps the retirement: its removal time does not depend on it.
  if (!r.retirement || v.policy.mode == Mode::None) return;
  r.retirement.reset();
  tx.add_event(domain, "retirement_cancelled", v.number,
               "version " + std::to_string(v.number) + " (mode " + std::string(mode_name(v.policy.mode)) +
                   ") was staged; the records stay");
}

void retirement_after_confirm(Transaction& tx, const std::string& domain, DomainRecord& r) {
  if (!r.retirement || r.retirement->removal || !r.confirmed) return;
  if (r.confirmed->number < r.retirement->version || r.confirmed->policy.mode != Mode::None) return;
  const auto horizon = horizon_before(tx.disk(), domain, r.confirmed->number, tx.now());
  r.retirement->removal = horizon;
  tx.put_record(domain, r);
  tx.add_event(domain, "retirement_scheduled", r.confirmed->number, removal_words(horizon, tx.now()));
}

std::string removal_detail(const Transaction& tx, const std::string& domain, const DomainRecord& r,
                           RemovalCheck check) {
  const auto why = still_cached(tx, domain, r);
  if (!why) return "";
  if (check == RemovalCheck::Force) return "forced: " + *why;
  if (r.retirement)
    throw RetirementConflict(domain + ": " + *why + "; it is being retired (" +
                             retirement_progress(*r.retirement, tx.now()) + "), or force the removal");
  throw RetirementConflict(domain + ": " + *why +
                           "; retire the domain instead (its records go once every cached policy has expired), "
                           "or force the removal");
}

std::vector<ScheduledRemoval> scan_scheduled_removals(const Disk& disk) {
  std::vector<ScheduledRemoval> out;
  const std::string prefix(keys::kRetiringPrefix);
  scan_prefix(disk, prefix, [&](const std::string& key, std::string_view value) {
    if (value.empty()) return;  // waiting for its `none` version to be confirmed
    int64_t at = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), at);
    if (error != std::errc() || end != value.data() + value.size())
      throw StoreError("store record " + key + " holds '" + std::string(value) + "', not a time");
    out.push_back({key.substr(prefix.size()), at});
  });
  return out;
}

Retirement PolicyStore::retire(std::string_view domain_text, std::string_view reason) {
  Retirement result;
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    if (reason.size() > kMaxReason) throw PolicyError("reason is longer than " + std::to_string(kMaxReason) + " bytes");
    DomainRecord r = tx.existing(domain);
    if (r.retirement)
      throw RetirementConflict(domain + " is already being retired since " + iso8601(r.retirement->since) + " (" +
                               retirement_progress(*r.retirement, tx.now()) + ")");
    if (!r.confirmed)
      throw RetirementConflict(domain +
                               ": nothing is confirmed, so no sender has fetched a policy of it and there is "
                               "nothing to retire; remove the domain instead");
    Retirement retirement{tx.now(), std::string(reason), 0, {}};
    std::string detail;
    if (r.staged && r.staged->policy.mode == Mode::None) {
      // The newest version is already `none`: it is the one senders must see.
      retirement.version = r.staged->number;
      detail = "version " + std::to_string(retirement.version) + " (mode none) is ";
      if (r.confirmed->number == r.staged->number) {
        const int64_t confirmed_at = r.confirmation ? r.confirmation->at : tx.now();
        retirement.removal = horizon_before(tx.disk(), domain, retirement.version, confirmed_at);
        detail += "confirmed; " + removal_words(*retirement.removal, tx.now());
      } else {
        detail += "staged; the records go once it is confirmed and every cached policy has expired";
      }
    } else {
      if (r.last_number == UINT32_MAX) throw PolicyError(domain + ": version numbers exhausted");
      const Policy none{Mode::None, r.confirmed->policy.mx, kRetirementMaxAge};
      retirement.version = stage_version(tx, domain, r, none, " (retiring)").number;
      detail = "staged version " + std::to_string(retirement.version) +
               " (mode none); the records go once it is confirmed and every cached policy has expired";
    }
    r.retirement = retirement;
    tx.put_record(domain, r);
    tx.add_event(domain, "retiring", retirement.version, reason.empty() ? detail : std::string(reason) + ": " + detail);
    result = retirement;
  });
  return result;
}

void PolicyStore::unretire(std::string_view domain_text) {
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    DomainRecord r = tx.existing(domain);
    if (!r.retirement) throw RetirementConflict(domain + " is not being retired");
    r.retirement.reset();
    tx.put_record(domain, r);
    tx.add_event(domain, "retirement_cancelled", 0, "cancelled by hand; the records stay");
  });
}

bool PolicyStore::remove_retired(std::string_view domain_text) {
  bool removed = false;
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    if (!tx.contains(domain)) return;  // removed meanwhile
    const DomainRecord r = tx.existing(domain);
    if (!r.retirement || !r.retirement->removal || r.retirement->removal->until > tx.now()) return;
    // Staging any other mode cancels the retirement; this guards the rule, not a case.
    if (!r.confirmed || r.confirmed->policy.mode != Mode::None) return;
    tx.remove_domain(domain, r.last_number);
    tx.add_event(domain, "removed", 0, "retired");
    removed = true;
  });
  return removed;
}

}  // namespace stsd::store
