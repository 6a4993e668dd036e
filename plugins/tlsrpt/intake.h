#pragma once
// The one way into the report store: `ingest(bytes, content type, source)`, used by the
// HTTPS intake (RFC 8460 §3) and the admin API's POST /v1/reports (what `stsctl reports
// ingest` sends). It decodes the body (application/tlsrpt+gzip is inflated with a hard
// cap on the inflated size, so a zip bomb costs at most that), parses and validates the
// report (report.h), attributes each policy to a stored version (attribution.h) and
// stores it (report_store.h). Writes from many threads are grouped: one thread commits
// what has queued up in one synced write, so the disk's sync rate does not cap the rate
// of reports; each caller still gets its answer only once its report is durable.
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics.h"
#include "store/policy_store.h"
#include "tlsrpt/attribution.h"
#include "tlsrpt/report.h"
#include "tlsrpt/report_store.h"

namespace stsd::tlsrpt {

inline constexpr std::string_view kGzipType = "application/tlsrpt+gzip";
inline constexpr std::string_view kJsonType = "application/tlsrpt+json";

struct IntakeSettings {
  StorageSettings storage;
  ReportLimits report;
  size_t max_compressed_bytes = 1 << 20;      // a request body
  size_t max_decompressed_bytes = 16 << 20;   // a report after inflating
  size_t max_batch = 256;                     // reports per grouped write
};

// Why a report was not stored; each is one value of the metrics' `outcome` label.
enum class Outcome {
  Stored,
  Duplicate,
  Malformed,       // 400: not a report (the message names the field)
  TooLarge,        // 413: compressed or decompressed size over its limit
  MediaType,       // 415
  UnknownDomain,   // 400 (unknown_domains: refuse)
  StorageFull,     // 507: no room within max_bytes
  StoreUnavailable,  // 503: the store refuses writes now
};
std::string_view outcome_name(Outcome outcome);
unsigned outcome_status(Outcome outcome);

struct IngestResult {
  Outcome outcome = Outcome::Stored;
  std::string error;  // when refused: the field or limit and the reason
  std::string domain, organization, report_id;
  nlohmann::json stale = nlohmann::json::array();  // [{"domain","reporter","version","confirmed_version",...}]
  // The admin API's answer (plugins/tlsrpt/README.md).
  nlohmann::json document() const;
};

class Intake {
 public:
  Intake(std::shared_ptr<store::PolicyStore> store, IntakeSettings settings);
  ~Intake();
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  // `media_type`: Content-Type without parameters, lower case. `source`: who sent it
  // ("https 192.0.2.1", "admin"), for the log. Thread-safe; blocks until stored.
  IngestResult ingest(std::string_view bytes, std::string_view media_type, std::string_view source);

  ReportStore& reports() { return reports_; }
  const IntakeSettings& settings() const { return settings_; }

  // Counters for the metrics (bounded: outcome x, result type x).
  void write_metrics(metrics::MetricsWriter& writer) const;

 private:
  struct Queued {
    const ReadyReport* report;
    std::promise<StoreOutcome> done;
  };
  StoreOutcome commit(const ReadyReport& report);
  IngestResult ingest_report(const Report& report, ReadyReport& ready);
  void run_committer();
  void count(const IngestResult& result, const Report* report);

  std::shared_ptr<store::PolicyStore> store_;
  const IntakeSettings settings_;
  ReportStore reports_;
  HistoryCache histories_;

  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::deque<Queued*> queue_;
  bool stopping_ = false;
  std::thread committer_;

  std::array<std::atomic<uint64_t>, 8> outcomes_{};
  // Sessions: [0] successful, [1..n] each known result type (result_types()), [n+1] other.
  std::array<std::atomic<uint64_t>, 16> sessions_{};
};

// Inflates a gzip (RFC 1952) body into at most `max_bytes`; throws ReportRefused
// ("body: ...") for broken data and std::length_error past the cap.
std::string gunzip(std::string_view compressed, size_t max_bytes);

}  // namespace stsd::tlsrpt
