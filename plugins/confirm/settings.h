#pragma once
// The `confirm:` top-level config section, parsed once into an immutable value.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "config.h"
#include "vantage.h"

namespace stsd::confirm {

struct ConfirmSettings {
  // Time between probe rounds of a pending (staged, unconfirmed) version.
  std::chrono::seconds interval{60};
  // K: consecutive rounds in which every vantage served the staged version.
  uint32_t probes = 3;
  // ...and at least this long between the first and the last of those rounds, so that
  // a CDN whose edges refresh on a timer has had time to show a stale copy.
  std::chrono::seconds soak{600};
  // Whole exchange (connect, TLS, request, answer). 4 s is the shortest timeout a
  // common sender uses (postfix-mta-sts-resolver); RFC 8461 §3.3 suggests 60 s.
  std::chrono::seconds timeout{4};
  // Trust store for policy hosts; nullopt = OpenSSL's system default paths.
  std::optional<std::filesystem::path> ca_file;
  // Where mta-sts.<domain> A/AAAA, MX and TXT records are resolved; nullopt = the
  // nameservers of /etc/resolv.conf.
  std::optional<Vantage> resolver;
  // Fixed vantages for every domain without its own list; empty = resolve mta-sts.<domain>.
  std::vector<Vantage> vantages;
  // How often a confirmed version is probed again to catch drift.
  std::chrono::seconds drift_interval{3600};
  // The port used for resolved addresses and for vantages written without a port.
  uint16_t https_port = kHttpsPort;
  // Cap on probes in flight at once, over all domains.
  uint32_t max_concurrent_probes = 16;
  // Longest delay between rounds after repeated failures (backoff doubles up to this).
  std::chrono::seconds max_backoff{900};
  // An id may move (rotation or confirmation) only on evidence at most this old: a round
  // in which every vantage served exactly the confirmed version. Each domain's
  // verification round starts at its next rotation - verify_window / 2 (README "Verified
  // id changes").
  std::chrono::seconds verify_window{600};
};

// Validates `section` (which may be null: every key has a default). Throws ConfigError
// naming file:line:key. Also checks that `ca_file` can be loaded as a trust store.
ConfirmSettings parse_settings(const ConfigNode* section);

}  // namespace stsd::confirm
