#pragma once
// What the store keeps about a domain and what its writers return: numbered immutable
// policy versions, the confirmation, the settings, a hold, and the append-only event log.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/policy.h"
#include "store/retirement.h"

namespace stsd::store {

struct PolicyVersion {
  uint32_t number = 0;
  Policy policy;
  int64_t created_at = 0;  // Unix seconds
  std::string digest;      // policy_digest(policy)
};

struct Confirmation {
  uint32_t version = 0;
  int64_t at = 0;
  bool manual = false;
  std::string reason;  // manual: the operator's reason; automatic: what was seen
};

struct Event {
  uint64_t seq = 0;  // global, increasing
  int64_t at = 0;
  std::string kind;      // domain_added, settings_updated, staged, confirmed,
                         // manual_confirm, hold, hold_released, removed, retiring,
                         // retirement_scheduled, retirement_cancelled, or a kind
                         // recorded by record_event ([a-z0-9_]{1,32})
  uint32_t version = 0;  // 0 when not about a version
  std::string detail;
};

struct DomainSettings {
  std::vector<std::string> tlsrpt_rua;  // RFC 8460 rua URIs; empty = no TLS-RPT record
  std::vector<std::string> vantages;    // confirmer vantage points; empty = resolve
};

struct Hold {
  std::string reason;
  int64_t since = 0;  // the id stays at the period containing `since`
};

struct DomainStatus {
  std::string domain;
  DomainSettings settings;
  int64_t created_at = 0;
  std::optional<PolicyVersion> staged;  // the newest staged version
  std::optional<PolicyVersion> confirmed;
  std::optional<Confirmation> confirmation;
  std::optional<Hold> hold;
  std::string served_id;        // empty when nothing is confirmed (DNS answers NODATA)
  std::string previous_id;      // the confirmed version's id in the period before (caches
                                // may hold it just after a rotation)
  int64_t rotation_offset = 0;  // the domain's offset inside the rotation (seconds)
  int64_t next_rotation = 0;    // Unix seconds of the domain's next rotation boundary; 0
                                // when nothing is confirmed or a hold is set
  std::optional<int64_t> rotate_until;  // evidence allows no period starting later
  bool rotation_held = false;  // the id is behind the current period for lack of evidence
  int64_t rotation_held_since = 0;  // when held: the boundary the id did not cross
  // Set while the domain is being retired (store/retirement.h).
  std::optional<Retirement> retirement;
};

// What a verifier saw about a domain before its id may move (issue 11): every vantage
// serving exactly the confirmed `version` (`verified`), or not.
struct RotationEvidence {
  uint32_t version = 0;
  bool verified = false;
  int64_t seen_at = 0;                  // when the round that saw it started (Unix seconds)
  std::chrono::seconds window{600};     // how long the evidence counts (verify_window)
  std::string detail;                   // plain words: which vantage served what
};
struct EvidenceResult {
  bool written = false;     // the store changed
  bool id_changed = false;  // the id served now changed (a held id jumped to the current period)
};

struct StageResult {
  uint32_t version = 0;  // the new version, or the existing one when not created
  bool created = false;  // false: skip_if_unchanged and same as the newest staged
  std::vector<Diagnostic> warnings;
};

// One row of a bulk import: the domain is added when missing (its settings replaced when
// `settings` is set), and `policy` is staged unless unchanged.
struct ImportItem {
  std::string domain;
  std::optional<DomainSettings> settings;
  Policy policy;
  std::string place = {};  // how errors name the item ("line 7" of a CSV file); "" = "item N"
};
struct ImportResult {
  std::string domain;  // normalized
  bool domain_added = false;
  StageResult stage;
  bool confirmed = false;
};

// The verification of every table file's block checksums that runs in the background
// after the store opened (checksum_verification.h).
struct ChecksumCheck {
  enum class State {
    not_run,    // a database the store does not own (tests), or not started yet
    verifying,  // in progress
    verified,   // every table file the store had when it opened was read and checked
    damaged,    // a file failed: writes are refused until a restart (reason: `damage`)
    stopped,    // the store closed before it ended
  };
  State state = State::not_run;
  int64_t at = 0;      // Unix seconds: when it started (verifying), else when it ended
  size_t files = 0;    // table files to verify (those the store had when it opened)
  uint64_t bytes = 0;  // their size
  size_t verified_files = 0;
  uint64_t verified_bytes = 0;
  double seconds = 0;  // how long it took (verified, damaged)
  std::string file;    // the damaged file (damaged)
  std::string damage;  // why writes are refused: the file, RocksDB's reason, the way out
};
// "not_run", "verifying", "verified", "damaged", "stopped": /v1/server's words.
std::string_view checksum_state_name(ChecksumCheck::State state);

// The store's fault state (README.md, "Faults"), for /v1/server and the metrics.
struct StoreHealth {
  bool writable = true;                // a write now would be attempted
  std::string reason;                  // why not; empty when writable
  int64_t failed_since = 0;            // Unix seconds; 0 unless failed (low space is checked per write)
  bool read_only = false;              // the database is open read-only
  std::optional<uint64_t> free_bytes;  // free on the store's file system (nullopt: unknown)
  uint64_t min_free_bytes = 0;         // storage_min_free_mib
  std::string torn_wal;                // what the last opening dropped from a torn WAL tail
  uint64_t failed_writes = 0;          // commits RocksDB failed
  uint64_t refused_writes = 0;         // writes refused before reaching RocksDB
  uint64_t recoveries = 0;             // times writes became possible again
  ChecksumCheck checksums;             // the background verification of the table files
};

}  // namespace stsd::store
