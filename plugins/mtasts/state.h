#pragma once
// The MTA-STS policy store: the one public header of plugins/mtasts, coded against by the
// mtasts DNS plugin, the admin API and stsctl, the HTTPS policy host and the confirmer.
//
// Build: link the CMake target `stsd_mtasts_state` (policy.cpp + state.cpp; it links the
// core, RocksDB, OpenSSL and nlohmann_json). Include as "state.h" or "mtasts/state.h".
//
// CONTRACT (keep source-compatible; changes are listed in the CHANGES block below)
// ---------------------------------------------------------------------------------
// * Policies (RFC 8461 §3.2): `parse_policy` is THE parser (store, CLI, confirmer); it
//   reports errors and warnings by line. `policy_errors` validates a Policy built any other
//   way (CLI flags, CSV, YAML). `render_policy` produces the canonical file every known
//   sender accepts: `version: STSv1` first, CRLF, one space after each colon, no blank
//   lines, no duplicate keys, ASCII, at least one mx line. `same_policy` is semantic
//   equality (mode, max_age, mx as a case-insensitive set).
// * PolicyState is the process-wide store object. Obtain it with PolicyState::get(env)
//   (never in check-only mode: the store is not opened then). It is thread-safe.
//   - Writes (add_domain ... set_hold, import) validate first and throw PolicyError with
//     a message naming the domain/field and the reason; when they throw, NOTHING changed.
//     A write that returns has been committed in ONE RocksDB WriteBatch with sync=true
//     (durable across kill -9) and is already visible to readers.
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
//   - `subscribe` registers a callback called (on the writer's thread, after the write is
//     visible, outside any store lock) with the domain that changed. Keep it short; it
//     must not throw. Drop the returned token to unsubscribe.
// * The id (RFC 8461 §3.1, 1-32 [A-Za-z0-9]) is a pure function of the rotation period
//   containing "now" and the CONFIRMED version's number and content digest; never of a
//   staged version. Format: <period start UTC><"v"><number><"d"><digest hex fragment>:
//     period start: YYYYMMDD when the rotation is whole days, YYYYMMDDhh for whole hours,
//                   YYYYMMDDhhmm for whole minutes, else YYYYMMDDhhmmss;
//     then "v" + the decimal version number, "d", and the first hex characters of the
//     version's SHA-256 content digest, as many as fit in 32 characters (at most 12).
//   e.g. rotation 1d, version 3 -> "20250101v3d9f86d081884c". Periods are counted from the
//   Unix epoch, so daily rotation happens at 00:00 UTC. While a hold is set (drift), the
//   period used is the one in which the hold started (the id does not rotate).
//
// CHANGES (source-compatible unless marked):
//   - PolicyState::last_change() (service-zone SOA serial).
//   - status/events/version throw PolicyError for a malformed domain name.
//   - Schema 2 (issue 6: memory and start-up at 1M domains): adds `mtasts/s/<domain>`
//     (compact served record); a schema-1 store is migrated in place when opened.
//   - INCOMPATIBLE: served_wire() returns a ServedView (zero-allocation view of the DNS
//     facts, holding its shard) instead of shared_ptr<const ServedDomain>.
//   - served() is no longer noexcept: it reads RocksDB (one snapshot) and may throw
//     StoreError; it returns nullptr for a domain not in the store, as before.
//   - domains(after, limit): one sorted page (the admin API pages with it).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rocksdb { class DB; }

namespace stsd {
class Environment;
class Clock;
}

namespace stsd::mtasts {

// ---------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------

enum class Mode { Enforce, Testing, None };
std::string_view mode_name(Mode mode);                       // "enforce", "testing", "none"
std::optional<Mode> mode_from_string(std::string_view text); // exact, lowercase

inline constexpr uint32_t kMaxMaxAge = 31557600;     // RFC 8461 §3.2
inline constexpr uint32_t kShortMaxAge = 86400;      // below this: warning
inline constexpr size_t kMaxPolicyBytes = 64 * 1024; // RFC 8461 §3.3 suggested fetch limit

struct Policy {
  Mode mode = Mode::Enforce;
  std::vector<std::string> mx;   // patterns: "mx1.example.com" or "*.example.com"
  uint32_t max_age = 604800;
};

struct Diagnostic {
  int line = 0;        // 1-based line of the policy text; 0 when not from text
  std::string message;
};

struct ParsedPolicy {
  std::optional<Policy> policy;   // set when there are no errors
  std::vector<Diagnostic> errors, warnings;
};

// RFC 8461 §3.2 parser and validator (LF or CRLF). mx patterns are lowercased.
ParsedPolicy parse_policy(std::string_view text);
// Errors of a Policy built from fields (CLI flags, CSV, YAML): empty means valid.
std::vector<Diagnostic> policy_errors(const Policy& policy);
// Warnings (short max_age, max_age lower than the confirmed version's, duplicate mx...).
std::vector<Diagnostic> policy_warnings(const Policy& policy, const Policy* confirmed);
// The canonical text (see CONTRACT). The policy must be valid.
std::string render_policy(const Policy& policy);
// SHA-256 (lowercase hex) of render_policy(policy): the content digest.
std::string policy_digest(const Policy& policy);
// Semantic equality: mode, max_age, and mx as a case-insensitive set.
bool same_policy(const Policy& a, const Policy& b);
// RFC 8461 §4.1: case-insensitive; "*." covers exactly one leftmost label; a trailing dot
// on `host` is ignored.
bool mx_pattern_matches(std::string_view pattern, std::string_view host);
// An mx pattern's error (empty when valid): host name or "*." + host name, never an IP.
std::string mx_pattern_error(std::string_view pattern);

// Domains: ASCII host names (A-labels), at least two labels; returns the lowercase form
// without a trailing dot, or throws PolicyError naming the domain and the reason.
std::string normalize_domain(std::string_view domain);

// RFC 8460 §3: a TLS-RPT rua URI is mailto:addr@host or https://host[...]. Empty = valid.
std::string tlsrpt_rua_error(std::string_view uri);
// "v=TLSRPTv1; rua=<uri>,<uri>" (empty string when `rua` is empty).
std::string tlsrpt_record(const std::vector<std::string>& rua);
// A vantage is "ADDR", "ADDR:PORT" or "[IPv6]:PORT". Empty = valid.
std::string vantage_error(std::string_view vantage);

// ---------------------------------------------------------------------------------------
// The id
// ---------------------------------------------------------------------------------------

inline constexpr size_t kMaxIdLength = 32;

// Start (Unix seconds) of the rotation period containing `unix_now`.
int64_t period_start(int64_t unix_now, std::chrono::seconds rotation);
// Writes the id into `out` and returns its length (1..32). Pure; never allocates.
size_t format_policy_id(char (&out)[kMaxIdLength], int64_t period_start_unix,
                        std::chrono::seconds rotation, uint32_t version,
                        std::string_view digest_hex) noexcept;
std::string policy_id(int64_t period_start_unix, std::chrono::seconds rotation, uint32_t version,
                      std::string_view digest_hex);

int64_t unix_seconds(std::chrono::system_clock::time_point t);

// ---------------------------------------------------------------------------------------
// Store records
// ---------------------------------------------------------------------------------------

// Bad input to the store: the message names the domain/field and the reason.
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The store on disk is unusable (written by a newer schema, corrupt record, I/O error).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PolicyVersion {
  uint32_t number = 0;
  Policy policy;
  int64_t created_at = 0;    // Unix seconds
  std::string digest;        // policy_digest(policy)
};

struct Confirmation {
  uint32_t version = 0;
  int64_t at = 0;
  bool manual = false;
  std::string reason;        // manual: the operator's reason; automatic: what was seen
};

struct Event {
  uint64_t seq = 0;          // global, increasing
  int64_t at = 0;
  std::string kind;          // domain_added, settings_updated, staged, confirmed,
                             // manual_confirm, hold, hold_released, removed, or a kind
                             // recorded by record_event ([a-z0-9_]{1,32})
  uint32_t version = 0;      // 0 when not about a version
  std::string detail;
};

struct DomainSettings {
  std::vector<std::string> tlsrpt_rua;   // RFC 8460 rua URIs; empty = no TLS-RPT record
  std::vector<std::string> vantages;     // confirmer vantage points; empty = resolve
};

struct Hold {
  std::string reason;
  int64_t since = 0;         // the id stays at the period containing `since`
};

struct DomainStatus {
  std::string domain;
  DomainSettings settings;
  int64_t created_at = 0;
  std::optional<PolicyVersion> staged;       // the newest staged version
  std::optional<PolicyVersion> confirmed;
  std::optional<Confirmation> confirmation;
  std::optional<Hold> hold;
  std::string served_id;     // empty when nothing is confirmed (DNS answers NODATA)
  int64_t next_rotation = 0; // Unix seconds of the next id change by rotation; 0 when
                             // nothing is confirmed or a hold is set
};

struct StageResult {
  uint32_t version = 0;      // the new version, or the existing one when not created
  bool created = false;      // false: skip_if_unchanged and same as the newest staged
  std::vector<Diagnostic> warnings;
};

// One row of a bulk import: the domain is added when missing (its settings replaced when
// `settings` is set), and `policy` is staged unless unchanged.
struct ImportItem {
  std::string domain;
  std::optional<DomainSettings> settings;
  Policy policy;
};
struct ImportResult {
  std::string domain;        // normalized
  bool domain_added = false;
  StageResult stage;
  bool confirmed = false;
};

// ---------------------------------------------------------------------------------------
// What answering reads: ServedDomain (built per call by PolicyState::served, for the
// policy host, the confirmer and the admin API) and ServedView (DNS, zero allocation)
// ---------------------------------------------------------------------------------------

struct ServedVersion {
  uint32_t number = 0;
  std::string digest;        // hex
  int64_t at = 0;            // created (staged) or confirmed (confirmed) time
};

struct ServedDomain {
  std::string domain;                  // "example.com"
  std::string wire_key;                // lowercase wire labels WITHOUT the root octet
  std::optional<ServedVersion> confirmed;
  std::optional<ServedVersion> staged;
  std::string staged_policy;           // render_policy(newest staged), for the policy host
  std::optional<int64_t> held_since;   // hold set: id frozen at this period
  int64_t txt_changed_at = 0;          // last confirm/hold change (SOA serial input)
  int64_t settings_changed_at = 0;     // last settings change (SOA serial input)
  std::string tlsrpt_txt;              // "v=TLSRPTv1; rua=..." or empty
  std::vector<uint8_t> tlsrpt_rdata;   // its TXT rdata (one string) or empty

  // The id served at `unix_now` (no allocation); 0 when nothing is confirmed.
  size_t id_at(int64_t unix_now, std::chrono::seconds rotation, char (&out)[kMaxIdLength]) const noexcept;
  // The effective period start at `unix_now` (frozen while held).
  int64_t effective_period(int64_t unix_now, std::chrono::seconds rotation) const noexcept;
};

// What DNS answering reads about one domain: a view into an immutable index shard (which
// it keeps alive), so a lookup allocates nothing and takes no lock. Empty (false) when
// the domain is not in the store.
class ServedView {
 public:
  ServedView() = default;
  explicit operator bool() const noexcept { return entry_ != nullptr; }
  bool operator==(std::nullptr_t) const noexcept { return entry_ == nullptr; }

  std::span<const uint8_t> wire_key() const noexcept;   // lowercase wire labels, no root octet
  bool has_confirmed() const noexcept;
  uint32_t confirmed_version() const noexcept;          // 0 when nothing is confirmed
  std::optional<int64_t> held_since() const noexcept;
  int64_t txt_changed_at() const noexcept;
  int64_t settings_changed_at() const noexcept;
  std::span<const uint8_t> tlsrpt_rdata() const noexcept;   // TXT rdata (one string) or empty
  // As ServedDomain::id_at / effective_period (the same id, byte for byte).
  size_t id_at(int64_t unix_now, std::chrono::seconds rotation, char (&out)[kMaxIdLength]) const noexcept;
  int64_t effective_period(int64_t unix_now, std::chrono::seconds rotation) const noexcept;

 private:
  friend class PolicyState;
  ServedView(std::shared_ptr<const void> keep, const std::byte* entry) noexcept : keep_(std::move(keep)), entry_(entry) {}
  std::shared_ptr<const void> keep_;   // the shard holding entry_
  const std::byte* entry_ = nullptr;
};

// ---------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------

class PolicyState {
 public:
  // The process-wide instance over env.database() (shared key "mtasts.state").
  // Throws StoreError / std::runtime_error when the store cannot be opened.
  static std::shared_ptr<PolicyState> get(Environment& env);

  // Loads the index from `db` (which must outlive this object). Creates the schema key in
  // an empty store; throws StoreError for a store written by a newer schema.
  PolicyState(rocksdb::DB& db, std::shared_ptr<Clock> clock);
  ~PolicyState();
  PolicyState(const PolicyState&) = delete;
  PolicyState& operator=(const PolicyState&) = delete;

  static constexpr uint32_t kSchemaVersion = 2;

  // --- writes (validated, atomic, durable; PolicyError = nothing changed) ---
  void add_domain(std::string_view domain, const DomainSettings& settings);
  void update_settings(std::string_view domain, const DomainSettings& settings);
  // Removes the domain, its versions and pointers; its event log stays (with "removed")
  // and a re-added domain continues the version numbering.
  void remove_domain(std::string_view domain);
  // Stages a new immutable version (warnings compare with the confirmed version).
  StageResult stage(std::string_view domain, const Policy& policy, bool skip_if_unchanged);
  // Points the confirmed pointer at `version` (which must exist and be >= the confirmed
  // one). Records "confirmed" or "manual_confirm" with `reason` and `detail`; clears a hold.
  // Confirming the already confirmed version again only records the event.
  void confirm(std::string_view domain, uint32_t version, bool manual, std::string_view reason,
               std::string_view detail = {});
  void record_event(std::string_view domain, std::string_view kind, uint32_t version,
                    std::string_view detail);
  // Drift watch: set (reason) or release (nullopt) the hold. Setting it again while held
  // keeps the original `since` (the id stays frozen at the first period).
  void set_hold(std::string_view domain, std::optional<std::string> reason);
  // Bulk: validates every item first (PolicyError names the item's position and domain,
  // nothing changed), then commits all of them in one batch.
  std::vector<ImportResult> import(const std::vector<ImportItem>& items, bool confirm_now,
                                   std::string_view reason);

  // --- admin reads (may read disk; a malformed domain name throws PolicyError) ---
  std::vector<std::string> domains() const;            // sorted
  // Up to `limit` domains sorted after `after` ("" = from the start).
  std::vector<std::string> domains(const std::string& after, size_t limit) const;
  std::vector<std::string> pending_domains() const;    // staged newer than confirmed (in memory)
  bool has_domain(std::string_view domain) const;
  std::optional<DomainStatus> status(std::string_view domain, int64_t unix_now) const;
  std::vector<Event> events(std::string_view domain, size_t limit) const;   // newest first
  std::optional<PolicyVersion> version(std::string_view domain, uint32_t number) const;

  // --- policy host, confirmer, admin: built from one RocksDB snapshot on each call ---
  // `domain`: any case, with or without trailing dot. nullptr when not in the store.
  std::shared_ptr<const ServedDomain> served(std::string_view domain) const;

  // --- DNS answering (no disk, no lock, no allocation beyond a refcount) ---
  // `labels`: lowercase wire labels without the root octet (see ServedDomain::wire_key).
  ServedView served_wire(std::span<const uint8_t> labels) const noexcept;
  // True when `labels` is a proper ancestor of a stored domain (empty non-terminal
  // detection for the service zone, RFC 8020).
  bool is_ancestor_wire(std::span<const uint8_t> labels) const noexcept;
  // Increases on every committed change.
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  size_t domain_count() const noexcept { return domain_count_.load(std::memory_order_acquire); }
  // Unix seconds of the newest committed change to any domain (service-zone SOA serial).
  int64_t last_change() const noexcept { return last_change_.load(std::memory_order_acquire); }

  // --- configuration pushed by the DNS plugin ---
  // The rotation period used by status() (the DNS plugin sets it; default 1 day).
  void set_rotation(std::chrono::seconds rotation);
  std::chrono::seconds rotation() const noexcept;
  // Names that must fit in 255 octets (e.g. `_smtp._tls.<domain>.<service zone>.`): a
  // domain whose wire form plus `extra_octets` exceeds 255 is refused when added, with
  // `why` in the message. Several requirements: the largest wins.
  void require_name_room(size_t extra_octets, std::string why);

  // --- change notification ---
  using Subscription = std::shared_ptr<void>;
  [[nodiscard]] Subscription subscribe(std::function<void(const std::string& domain)> callback);

  Clock& clock() const { return *clock_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<Clock> clock_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> domain_count_{0};
  std::atomic<int64_t> last_change_{0};
};

}  // namespace stsd::mtasts
