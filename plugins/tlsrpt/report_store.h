#pragma once
// Where TLS-RPT reports go: the policy store's key space "tlsrpt" (store/space_records.h),
// so every change is one synced write through the store's write frame: all of a report
// or nothing, durable when acknowledged, refused while the store refuses writes.
//
// Keys (under mtasts/x/tlsrpt/; <day> is the UTC day of the report's start, YYYY-MM-DD):
//   id/<sha256(organization \n report-id)>   <day>      a report seen (duplicates count once)
//   day/<day>/id/<sha256>                    ""         the same, listed under its day
//   day/<day>/agg/<domain>                   JSON       the day's aggregate of a domain in the store
//   day/<day>/kept/<domain>                  JSON       the same for a domain not in the store
//                                                       (unknown_domains: keep), kept apart
//   day/<day>/stale/<domain>                 ""         the domain has stale reports that day
//   day/<day>/fail/<domain>                  ""         the domain has failed sessions that day
//   size/<day>                               decimal    octets of that day's keys and values
//   total                                    decimal    the sum of size/*
// A day is dropped whole (retention, and the size bound: oldest first).
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/policy_store.h"
#include "tlsrpt/attribution.h"
#include "tlsrpt/report.h"

namespace stsd::tlsrpt {

struct StorageSettings {
  int64_t retention_days = 90;
  uint64_t max_bytes = 256ull << 20;  // of the key space; oldest days are dropped past it
  bool keep_unknown_domains = false;  // unknown_domains: keep (else refuse)
};

// A report parsed and attributed, ready to store.
struct ReadyReport {
  Report report;
  std::vector<Attribution> attributions;  // one per policy
  std::vector<bool> in_store;             // per policy: its domain is in the store
};

enum class StoreOutcome { Stored, Duplicate, Full };

// "YYYY-MM-DD" of a Unix time (UTC).
std::string utc_day(int64_t unix_seconds);

class ReportStore {
 public:
  ReportStore(std::shared_ptr<store::PolicyStore> store, StorageSettings settings);

  const StorageSettings& settings() const { return settings_; }
  // Stores the reports in one write; an outcome for each: Full when it does not fit in
  // max_bytes even after dropping every older day (nothing of it is stored). Throws the
  // store's errors for the whole batch (nothing stored then).
  std::vector<StoreOutcome> store(const std::vector<const ReadyReport*>& reports);
  // Drops the days older than the retention period; returns how many.
  size_t sweep(int64_t now);

  // GET /v1/reports?domain=D&since=DAY (plugins/tlsrpt/README.md, "Admin API").
  nlohmann::json domain_summary(const std::string& domain, const std::string& since_day) const;
  // GET /v1/reports?stale=true.
  nlohmann::json stale_domains() const;
  // The status section's document (with "lines").
  nlohmann::json status_section(const std::string& domain, int64_t now) const;

  struct Usage {
    uint64_t bytes = 0;
    size_t days = 0;
    size_t domains_with_stale = 0;
    size_t domains_with_failures = 0;
  };
  Usage usage() const;

 private:
  class Pending;
  // A domain entering or leaving a day's stale or failure index (for the gauges).
  struct IndexChange {
    bool stale = false;  // else: failures
    std::string domain;
    int delta = 1;
  };
  StoreOutcome store_one(Pending& batch, const ReadyReport& ready, std::vector<std::string>& touched_days,
                         std::vector<IndexChange>& index) const;
  // Drops committed days before `before` and not touched in this batch, oldest first,
  // until `needed` more octets fit in max_bytes; false when they cannot.
  bool make_room(Pending& batch, uint64_t needed, const std::string& before, const std::vector<std::string>& touched,
                 std::vector<IndexChange>& index) const;
  void drop_day(Pending& batch, const std::string& day, std::vector<IndexChange>& index) const;
  void load_index();
  void apply_index(const std::vector<IndexChange>& index);

  std::shared_ptr<store::PolicyStore> store_;
  const StorageSettings settings_;
  // For the gauges: domain -> the number of stored days with stale reports / failures.
  mutable std::mutex index_mutex_;
  std::unordered_map<std::string, size_t> stale_days_, fail_days_;
};

}  // namespace stsd::tlsrpt
