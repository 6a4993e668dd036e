#pragma once
// The `transfer:` section of a server block (README.md, "Syntax"). Named transfer_config
// rather than config so it never shadows the core's "config.h".
#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include "acl.h"
#include "config.h"
#include "dns/name.h"
#include "dns/tsig.h"
#include "notifier.h"

namespace stsd::transfer {

inline constexpr std::chrono::seconds kDefaultPoll{1};
inline constexpr size_t kDefaultJournalMaxMib = 64;
// A secret file holds one base64 line; anything larger is not one.
inline constexpr uint64_t kMaxSecretFileBytes = 4096;

// What the process-wide tracker runs with (one per process: every server block that
// has `transfer:` must agree on it).
struct TrackerSettings {
  std::optional<dns::Name> catalog;  // lowercase
  std::chrono::seconds poll = kDefaultPoll;
  size_t journal_max_bytes = kDefaultJournalMaxMib << 20;
  NotifySettings notify;                // no targets: no NOTIFY
  std::vector<dns::tsig::Key> keys;  // what NOTIFYs are signed with
};

struct TransferSettings {
  std::vector<dns::tsig::Key> keys;
  std::vector<AllowRule> allow;
  TrackerSettings tracker;
};

// Validates the section; ConfigError (ConfigNode::fail) names file, line and key.
// Reads `secret_file`s (InputFileRules::secret: the admin token file's rules).
TransferSettings parse_transfer_settings(const ConfigNode& section);

// Whether two blocks' tracker settings can run as one (catalog, poll, journal bound,
// notify); the text says what differs, empty when they agree.
std::string tracker_settings_conflict(const ConfigNode& a, const ConfigNode& b);

}  // namespace stsd::transfer
