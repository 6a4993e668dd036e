#pragma once
// The MTA-STS policy store, coded against by the mtasts DNS plugin, the admin API and
// stsctl, the HTTPS policy host and the confirmer.
//
// Build: link the CMake target `stsd_store`. Include as "store/policy_store.h" (it brings
// the policy model, the id and the records: store/policy.h, store/names.h,
// store/policy_id.h, store/records.h, store/served.h, store/errors.h).
//
// CONTRACT
// --------
// * Policies (RFC 8461 §3.2): `parse_policy` is THE parser (store, CLI, confirmer); it
//   reports errors and warnings by line. `policy_errors` validates a Policy built any other
//   way (CLI flags, CSV, YAML). `render_policy` produces the canonical file every known
//   sender accepts: `version: STSv1` first, CRLF, one space after each colon, no blank
//   lines, no duplicate keys, ASCII, at least one mx line. `same_policy` is semantic
//   equality (mode, max_age, mx as a case-insensitive set).
// * PolicyStore is the process-wide store object. Obtain it with PolicyStore::open(env)
//   (never in check-only mode: the store is not opened then). It is thread-safe.
//   - Writes (add_domain ... set_hold, import) validate first and throw PolicyError with
//     a message naming the domain/field and the reason; when they throw, NOTHING changed.
//     A write that returns has been committed in ONE RocksDB WriteBatch with sync=true
//     (durable across kill -9) and is already visible to readers. Every writer goes
//     through one write frame: writer lock, read, build the batch with its events,
//     admission (write_guard.h), synced commit, apply to memory, notify subscribers.
//   - Faults (README.md, "Faults"): a write the store cannot make now (disk full or below
//     storage_min_free_mib, read-only file system, an earlier failed write not yet
//     recovered) throws StoreUnavailable and changes nothing, in memory or on disk; DNS
//     keeps answering from the index; writes resume by themselves (the store reopens its
//     database) once the cause is gone. `health()` says which.
//   - The confirmed pointer only ever points at an existing version, and only moves
//     forward: confirm(N) refuses N older than the confirmed version (rollback = stage
//     the old content again, which makes a new version).
//   - Memory holds only what DNS answering needs (a compact served index, ~100 bytes per
//     domain) and the set of pending domain names. Everything else is read from RocksDB:
//     admin reads (domains, status, events, version), writers (under the writer mutex),
//     and `served(domain)`, which builds a full ServedDomain from one RocksDB snapshot
//     (for the policy host, the confirmer and the admin API; it may throw StoreError).
//   - DNS answering uses `served_wire` / `is_ancestor_wire`: no disk, no mutex, no
//     allocation. The index is sharded; each shard is one immutable block (a hash table
//     of packed entries) published through std::atomic<std::shared_ptr>, and a change
//     rebuilds only the shards it touches. A ServedView keeps its shard alive.
//   - Start-up reads one compact binary record per domain (`mtasts/s/<domain>`, written
//     in the same WriteBatch as every change) in one sequential scan: no JSON, no Gets.
//     A store written by a newer schema is refused; a schema-1 store is migrated in place.
//   - `subscribe` registers a callback called (on the writer's thread, after the write is
//     visible, outside any store lock) once for each domain a committed write changed.
//     Keep it short; it must not throw. Drop the returned token to unsubscribe.
// * The id (store/policy_id.h) is a pure function of the domain's rotation period (at its
//   own offset) containing the effective time, and the CONFIRMED version's number and
//   content digest; never of a staged version. The effective time is now, or earlier:
//   the start of a hold (drift), or `rotate_until` (the id may not enter a period that
//   starts after its evidence ran out, issue 11).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/errors.h"
#include "store/names.h"
#include "store/policy.h"
#include "store/policy_id.h"
#include "store/records.h"
#include "store/served.h"
#include "store/time_floor.h"

namespace rocksdb {
class DB;
}

namespace stsd {
class Environment;
class Clock;
}  // namespace stsd

namespace stsd::store {

class Database;
class SpaceWrite;
class Transaction;

class PolicyStore {
 public:
  // The process-wide instance over the RocksDB under `storage:`, opened on first use and
  // kept in env.shared. Throws StoreError / std::runtime_error when the store cannot be
  // opened (no `storage:`, check-only mode, held by another process, newer schema...).
  static std::shared_ptr<PolicyStore> open(Environment& env);

  // Loads the index from `database`. Creates the schema key in an empty store; throws
  // StoreError for a store written by a newer schema, or one that needs migrating while
  // it is open read-only.
  PolicyStore(std::shared_ptr<Database> database, std::shared_ptr<Clock> clock);
  // The same over a RocksDB its caller keeps open (and which must outlive this object):
  // no free-space minimum, and recovery by RocksDB's Resume() instead of a reopen.
  PolicyStore(rocksdb::DB& db, std::shared_ptr<Clock> clock);
  ~PolicyStore();
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  static constexpr uint32_t kSchemaVersion = 3;

  // --- writes (validated, atomic, durable; PolicyError = nothing changed) ---
  void add_domain(std::string_view domain, const DomainSettings& settings);
  void update_settings(std::string_view domain, const DomainSettings& settings);
  // Removes the domain, its versions and pointers; its event log stays (with "removed")
  // and a re-added domain continues the version numbering. Refuses (RetirementConflict)
  // while a sender may still hold a policy of it other than `none` (RFC 8461 §8.3): its
  // confirmed policy is enforce or testing, or an earlier one may still be cached; `Force`
  // removes anyway and records what it was forced past.
  void remove_domain(std::string_view domain, RemovalCheck check = RemovalCheck::RefuseWhileCached);
  // Retiring (RFC 8461 §8.3, store/retirement.h): stages a `mode: none` policy with the
  // confirmed policy's mx lines (or takes the newest version when it is `none` already)
  // and records the retirement; once that version is confirmed the removal time is fixed.
  // RetirementConflict when nothing is confirmed or the domain is being retired already.
  Retirement retire(std::string_view domain, std::string_view reason);
  // Cancels a retirement (RetirementConflict when there is none); the versions stay as
  // they are. Staging a policy other than `none` cancels it too.
  void unretire(std::string_view domain);
  // The retirement sweeper's: removes a retiring domain whose removal time has passed
  // (event "removed", detail "retired"); false when it is not due, not retiring or gone.
  bool remove_retired(std::string_view domain);
  // Stages a new immutable version (warnings compare with the confirmed version).
  StageResult stage(std::string_view domain, const Policy& policy, bool skip_if_unchanged);
  // Points the confirmed pointer at `version` (which must exist and be >= the confirmed
  // one). Records "confirmed" or "manual_confirm" with `reason` and `detail`; clears a hold.
  // Confirming the already confirmed version again only records the event.
  // `evidence_until`: an automatic confirmation's evidence (round start + verify window)
  // becomes the domain's rotate_until.
  void confirm(std::string_view domain, uint32_t version, bool manual, std::string_view reason,
               std::string_view detail = {}, std::optional<int64_t> evidence_until = {});
  // Verified rotation (issue 11): what a verifier saw just now. Verified evidence sets
  // rotate_until = seen_at + window when that lets the id move (a held id then jumps to the
  // current period: event rotation_resumed) or the domain was not gated; otherwise
  // nothing is written. Unverified evidence sets rotate_until = min(rotate_until, now), so
  // the id stays where it is now (event rotation_held, once per change). Evidence about a
  // version that is not the confirmed one changes nothing.
  EvidenceResult record_rotation_evidence(std::string_view domain, const RotationEvidence& evidence);
  // Set by the confirm service: a manual confirmation of a domain that no verifier gates
  // yet then gates it at the confirmation time. While unset (no verifier runs), a manual
  // confirmation lifts the domain's gate instead.
  void set_rotation_evidence_required(bool required);
  bool rotation_evidence_required() const noexcept;
  // Gates every confirmed domain that no verifier gates yet (rotate_until = now), in
  // batches; returns how many. The confirm service calls it at start, so that no id
  // moves before its first evidence. While the store refuses writes (started read-only)
  // the rest is gated as soon as writes resume.
  size_t gate_ungated_rotations();
  // Appends an event; nothing served changes (no generation change, no notification).
  void record_event(std::string_view domain, std::string_view kind, uint32_t version, std::string_view detail);
  // Drift watch: set (reason) or release (nullopt) the hold. Setting it again while held
  // keeps the original `since` (the id stays frozen at the first period).
  void set_hold(std::string_view domain, std::optional<std::string> reason);
  // Bulk: validates every item first, then commits all of them in one WriteBatch, so a
  // request is imported whole or not at all. ImportRefused lists every refused item by its
  // place (nothing changed); PolicyError alone refuses the request as such (a bad reason).
  std::vector<ImportResult> import(const std::vector<ImportItem>& items, bool confirm_now, std::string_view reason);
  // The dry run of import(): the same checks, by the same function, against the same view
  // of the store (under the writer lock), writing nothing. The refused items; none when
  // import() would accept `items` now. PolicyError as import() for the request as such.
  std::vector<ImportRefusal> check_import(const std::vector<ImportItem>& items, bool confirm_now,
                                          std::string_view reason);

  // --- admin reads (may read disk; a malformed domain name throws PolicyError) ---
  std::vector<std::string> domains() const;  // sorted
  // Up to `limit` domains sorted after `after` ("" = from the start).
  std::vector<std::string> domains(const std::string& after, size_t limit) const;
  std::vector<std::string> pending_domains() const;  // staged newer than confirmed (in memory)
  bool has_domain(std::string_view domain) const;
  // `unix_now` is taken as the store's time (never behind it).
  std::optional<DomainStatus> status(std::string_view domain, int64_t unix_now) const;
  std::vector<Event> events(std::string_view domain, size_t limit) const;  // newest first
  std::optional<PolicyVersion> version(std::string_view domain, uint32_t number) const;
  // The retiring domains whose removal time is fixed (a scan of the short list of
  // retiring domains, not of the store).
  std::vector<ScheduledRemoval> scheduled_removals() const;

  // --- policy host, confirmer, admin: built from one RocksDB snapshot on each call ---
  // `domain`: any case, with or without trailing dot. nullptr when not in the store.
  std::shared_ptr<const ServedDomain> served(std::string_view domain) const;

  // --- DNS answering (no disk, no lock, no allocation beyond a refcount) ---
  // `labels`: lowercase wire labels without the root octet (see ServedDomain::wire_key).
  ServedView served_wire(std::span<const uint8_t> labels) const noexcept;
  // True when `labels` is a proper ancestor of a stored domain (empty non-terminal
  // detection for the service zone, RFC 8020).
  bool is_ancestor_wire(std::span<const uint8_t> labels) const noexcept;
  // Every served domain (ServedIndex::for_each): for zone listings, not for queries.
  void for_each_served(const std::function<void(const ServedView&)>& visit) const;
  // Increases on every committed change to what is served.
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  size_t domain_count() const noexcept { return domain_count_.load(std::memory_order_acquire); }
  // Unix seconds of the newest committed change to any domain (service-zone SOA serial).
  int64_t last_change() const noexcept { return last_change_.load(std::memory_order_acquire); }
  // Every change stamped from now on (a domain's TXT or settings change, last_change) is
  // later than `time`: a change made outside the store (the DNS plugin's config, whose
  // time its zone serials also follow) then never shares a serial with a store change.
  void raise_change_floor(int64_t time) noexcept;
  int64_t change_floor() const noexcept { return change_floor_.load(std::memory_order_acquire); }

  // --- faults ---
  // Whether writes are accepted now and why not; free space, torn WAL, counters. Never
  // waits for a write.
  StoreHealth health() const;

  // --- configuration pushed by the DNS plugin ---
  // The rotation period used by status() (the DNS plugin sets it; default 1 day).
  void set_rotation(std::chrono::seconds rotation);
  std::chrono::seconds rotation() const noexcept;
  // The rotation and the store's migration time: what the id needs besides a domain's facts.
  RotationSchedule schedule() const noexcept;
  // Names that must fit in 255 octets (e.g. `_smtp._tls.<domain>.<service zone>.`): a
  // domain whose wire form plus `extra_octets` exceeds 255 is refused when added, with
  // `why` in the message. Several requirements: the largest wins.
  void require_name_room(size_t extra_octets, std::string why);

  // --- small facts other parts keep across restarts (zone serial inputs, catalog state) ---
  // `name`: [a-z0-9_./-]+, at most 200 octets (PolicyError otherwise); stored under
  // keys::kFactPrefix. nullopt when never written.
  std::optional<std::string> fact(std::string_view name) const;
  // Durable when it returns; a write like any other (StoreUnavailable while refused).
  void put_fact(std::string_view name, std::string_view value);

  // --- key spaces of other parts (store/space_records.h; `space`: [a-z0-9_]{1,32}) ---
  // One write through the write frame: `build` reads and writes the space's records;
  // nothing is written when it throws, and the write is refused like any other.
  void write_space(std::string_view space, const std::function<void(SpaceWrite&)>& build);
  std::optional<std::string> space_get(std::string_view space, std::string_view key) const;
  // The space's committed records whose key starts with `key_prefix`, in key order (keys
  // without the space's prefix); `visit` returns false to stop.
  void space_scan(std::string_view space, std::string_view key_prefix,
                  const std::function<bool(std::string_view key, std::string_view value)>& visit) const;

  // --- change notification ---
  using Subscription = std::shared_ptr<void>;
  [[nodiscard]] Subscription subscribe(std::function<void(const std::string& domain)> callback);

  Clock& clock() const { return *clock_; }
  // The store's time (store/time_floor.h): the clock, but never behind a time already
  // used. Every write is stamped with it, and DNS answers, ids and serials use it.
  int64_t now() const noexcept;
  TimeFloor& time_floor() const noexcept { return time_floor_; }
  // Persists the time lease when it is due (the clock watch calls it every second).
  // Throws StoreError when the write fails; the floor still holds in this process.
  void renew_time_floor();

 private:
  struct Impl;
  // The write frame every writer goes through: under the writer lock it builds a
  // Transaction with `build` (which reads the current records and adds records and
  // events), commits it in one synced batch, applies it to the served index, then (after
  // the lock) notifies subscribers of each changed domain. When `build` throws, or the
  // commit fails, nothing changed. A transaction with nothing in it commits nothing.
  void write(const std::function<void(Transaction&)>& build);
  // The same for a write about one domain: `domain` is normalized (PolicyError when it is
  // not a domain name) and passed to `build`.
  void write(std::string_view domain, const std::function<void(Transaction&, const std::string& domain)>& build);

  std::unique_ptr<Impl> impl_;
  std::shared_ptr<Clock> clock_;
  mutable TimeFloor time_floor_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> domain_count_{0};
  std::atomic<int64_t> last_change_{0};
  std::atomic<int64_t> change_floor_{0};
};

}  // namespace stsd::store
