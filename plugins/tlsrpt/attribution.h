#pragma once
// Version attribution (issue 17): which of a domain's stored policy versions a sender
// applied, and whether that was stale. The report's policy-string is parsed as an
// RFC 8461 §3.2 policy, rendered canonically and digested (store/policy.h: the same
// digest every stored version carries), then matched against the domain's versions. A
// report is stale when the version it applied is older than the version that was
// confirmed at the report's start-datetime: the sender held a policy cached past its
// replacement (the failure issue 17 makes visible).
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/policy_store.h"
#include "tlsrpt/report.h"

namespace stsd::tlsrpt {

// What the store knows of a domain's versions, oldest first.
struct VersionHistory {
  struct Version {
    uint32_t number = 0;
    std::string digest;
  };
  struct Confirmed {
    uint32_t version = 0;
    int64_t at = 0;
  };
  std::vector<Version> versions;
  std::vector<Confirmed> confirmations;  // in the order they happened
};

struct Attribution {
  enum class Kind { Matched, UnknownPolicy, NotSts };
  Kind kind = Kind::NotSts;
  uint32_t version = 0;            // Matched: the version applied
  bool stale = false;              // Matched and older than `confirmed_version`
  uint32_t confirmed_version = 0;  // confirmed at the report's start (0: none yet)
  int64_t confirmed_at = 0;
};

// The canonical digest of a policy-string (its lines joined by CRLF and parsed as a
// policy); nullopt when the lines are no valid policy.
std::optional<std::string> policy_string_digest(const std::vector<std::string>& lines);

Attribution attribute(const PolicyResult& result, const VersionHistory& history, int64_t report_start);

// Each domain's history read from the store once and kept until the store reports a
// change of that domain (a staged or confirmed version). Thread-safe.
class HistoryCache {
 public:
  explicit HistoryCache(std::shared_ptr<store::PolicyStore> store);
  // nullptr when the domain is not in the store.
  std::shared_ptr<const VersionHistory> get(const std::string& domain);

 private:
  std::shared_ptr<const VersionHistory> read(const std::string& domain) const;

  std::shared_ptr<store::PolicyStore> store_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const VersionHistory>> histories_;
  uint64_t changes_ = 0;  // a history read while a change arrived is not kept
  store::PolicyStore::Subscription subscription_;
};

}  // namespace stsd::tlsrpt
