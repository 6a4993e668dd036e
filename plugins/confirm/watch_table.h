#pragma once
// The confirmer's memory of every domain it watches (every domain of the store): when
// its next round is due, what its last round saw, and what `stsctl status`, the confirm
// check and /metrics read from it.
//
// Scale (1,000,000 domains): every domain has a Watch, so the common case, a confirmed
// version served by every vantage, keeps only the fields of Watch and one VantageMemo per
// vantage. A pending version, a failure, drift or missing evidence adds a Trouble while
// it lasts. Bytes per watched domain with two vantages (x86-64, libstdc++; the
// static_asserts in watch_table.cpp keep the sizes honest):
//   std::map node: links 32 + name 32 + Watch 72       136
//   two VantageMemo in their vector                      144
//   one entry of the due heap                             16
//   allocator overhead of those 2 blocks                 ~32
//   = about 330 bytes, plus the name beyond 15 characters and an ETag beyond 15
//   (measured: 336 bytes a domain over 100,000 names of 15-20 characters, nginx ETags).
//
// Threads: the prober's io thread is the only writer. It changes the table only under
// the lock and reads it without (no one else writes). The admin thread and scrapes read
// under the lock. The lock is never held across I/O or a store read.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics.h"
#include "tracker.h"
#include "vantage.h"

namespace stsd::confirm {

// The phase of a domain's last round, as `stsctl status` shows it.
enum class Phase : uint8_t { Pending, Confirmed, Watching, Held, Drift, DriftOverridden };
inline constexpr size_t kPhaseCount = 6;
std::string_view phase_name(Phase phase);  // "pending", ..., "drift-overridden"

// What one vantage served in the last round, in 72 bytes: enough to rebuild the status
// of a clean round, to answer the confirm check, and to ask the vantage conditionally
// next time (RFC 9110 §13.1.2 If-None-Match with the ETag seen with a known version).
struct VantageMemo {
  int64_t certificate_not_after = 0;  // Unix seconds; 0 = not seen
  uint32_t version = 0;               // for Staged, Confirmed and Older
  uint32_t etag_version = 0;          // the version whose body came with `etag`; 0 = none
  std::array<uint8_t, 16> address{};  // IPv4 in the first 4 bytes
  uint16_t port = 0;
  bool v6 = false;
  bool configured = false;  // a configured edge ("edge X"), not a resolved address
  Served served = Served::Error;
  std::string etag;

  static VantageMemo of(const Vantage& vantage, bool configured);
  Vantage vantage() const;
  std::string label() const;  // "edge 192.0.2.7" or "address 192.0.2.7"
};

// What a domain needs while something is wrong or pending; dropped after a clean round.
struct Trouble {
  explicit Trouble(TrackerSettings settings) : tracker(settings) {}
  DomainTracker tracker;
  bool held_by_us = false;  // the drift hold on the domain is ours
  uint32_t held_for_version = 0;
  std::string override_fingerprint;  // drift the operator chose to release
  std::string failure_fingerprint;   // last failure recorded in the event log
  // The last round, for `stsctl status` and the confirm check.
  nlohmann::json status;
  std::vector<VantageOutcome> outcomes;
  std::optional<std::string> setup_error;
};

struct Watch {
  int64_t due_ms = 0;         // when the next round starts (the process clock, Unix ms)
  int64_t last_round_ms = 0;  // when the last round started; 0 = not probed yet
  int64_t seen_settings = 0;  // the domain's settings_changed_at when last looked at
  uint32_t seen_staged = 0, seen_confirmed = 0;
  uint16_t queued = 0;  // entries of the due heap that point here
  Phase phase = Phase::Watching;
  bool failing = false;
  bool in_flight = false;
  bool changed_in_flight = false;  // the store changed during the round: go again at once
  bool removed = false;            // gone from the store; erased once no heap entry points here
  std::vector<VantageMemo> vantages;
  std::unique_ptr<Trouble> trouble;
};

// Why a domain's id does not rotate: the store says it is behind the current period for
// lack of evidence; the words come from the last round.
struct HeldRotation {
  int64_t since = 0;    // the boundary the id did not move at (Unix s)
  std::string vantage;  // "127.0.0.12:8443", or "" when no vantage could be probed
  std::string reason;   // short label: "older-version", "timeout", "tls", "no-vantage"...
  std::string words;    // "edge 127.0.0.12:8443 still serves version 1 (...)"
};

class WatchTable {
 public:
  using Map = std::map<std::string, Watch, std::less<>>;
  using Entry = Map::value_type;  // {domain, watch}; map nodes never move

  // --- io thread ---
  Entry* find(std::string_view domain);  // nullptr when not watched
  // The watch of `domain`, made when missing (then due at `due_ms`); true when made.
  std::pair<Entry*, bool> add(const std::string& domain, int64_t due_ms);
  void remove(std::string_view domain);
  void schedule(Entry& entry, int64_t due_ms);
  // The domains due at `now_ms` and not in flight, earliest first, at most `limit`; each
  // is marked in flight until finish().
  std::vector<Entry*> take_due(int64_t now_ms, size_t limit);
  // The round of `entry` ended; it is due again at `due_ms` (at once when the store
  // changed meanwhile).
  void finish(Entry& entry, int64_t due_ms, int64_t now_ms);
  // Reconciles the watched names after `after` (up to `names.back()`, or to the end when
  // `to_end`) with `names`, a sorted page of the store's domains: watches of names no
  // longer there go; returns the names not watched yet (the caller adds them).
  std::vector<std::string> reconcile(std::string_view after, const std::vector<std::string>& names, bool to_end);
  size_t in_flight() const { return in_flight_; }
  // Calls `visit(entry)` for every watched domain (a reload; O(domains)).
  template <class Visit>
  void for_each(Visit&& visit) {
    for (auto& entry : watches_)
      if (!entry.second.removed) visit(entry);
  }

  // Runs `change` on a watch under the lock (for what readers see).
  template <class Change>
  void update(Entry& entry, Change&& change) {
    std::lock_guard lock(mutex_);
    Watch& watch = entry.second;
    count(watch, -1);
    change(watch);
    count(watch, +1);
  }
  void set_rotation_held(const std::string& domain, std::optional<HeldRotation> held);
  void set_drift_held(const std::string& domain, bool held);

  // --- any thread ---
  // Calls `read` with the watch of `domain` (nullptr when not watched) under the lock.
  template <class Read>
  auto read(std::string_view domain, Read&& read) const {
    std::lock_guard lock(mutex_);
    auto it = watches_.find(domain);
    return read(it == watches_.end() || it->second.removed ? nullptr : &it->second);
  }
  std::optional<HeldRotation> rotation_held(std::string_view domain) const;
  // stsd_confirm_domains (per phase), stsd_confirm_failing_domains, stsd_confirm_drift_held
  // and stsd_confirm_rotation_held: only the held domains, at most kMaxListed of each, so
  // a provider with a million domains exports a bounded number of lines.
  void write_metrics(metrics::MetricsWriter& writer) const;
  static constexpr size_t kMaxListed = 1000;

 private:
  struct Due {
    int64_t due_ms;
    Entry* entry;
  };
  void count(const Watch& watch, int delta);
  void push(Entry& entry);
  void erase_if_unreferenced(Entry& entry);
  void compact_heap();

  mutable std::mutex mutex_;
  Map watches_;
  // Min-heap on due_ms. A watch rescheduled or removed leaves its old entries behind;
  // they are skipped when they come up (Watch::queued counts them).
  std::vector<Due> heap_;
  size_t in_flight_ = 0;
  size_t removed_ = 0;
  // Counts per phase are kept as phases change, so a scrape does not walk every domain.
  std::array<size_t, kPhaseCount> phase_counts_{};
  size_t failing_count_ = 0;
  std::set<std::string, std::less<>> drift_held_;                   // held for drift by the confirmer
  std::map<std::string, HeldRotation, std::less<>> rotation_held_;  // id behind for lack of evidence
};

}  // namespace stsd::confirm
