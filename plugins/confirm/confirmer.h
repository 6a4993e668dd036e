#pragma once
// The confirmer (`confirm:` top-level key, see README.md): one thread running an
// io_context on which probe rounds run as coroutines, plus two resolver threads for the
// blocking ldns lookups. Nothing here runs on, or waits for, a DNS answering thread.
//
// The engine's parts live in files of one purpose:
//   confirmer.cpp    set-up, start, stop, reload
//   scheduler.cpp    which domains are watched and when each one's next round is due
//   round.cpp        one probe round: plan the vantages, fetch from all, record, reschedule
//   compare.cpp      which version (if any) a vantage served
//   verdict.cpp      acting on a round's verdict: confirm, failure events, drift hold,
//                    the evidence for the next id change
//   status.cpp       the probe state for `stsctl status`, the confirm check, the metrics
//   mx_coverage.cpp  the MX check of the stage hook
//   report.cpp       `stsctl check` (its sections are in report_sections.cpp)
// with the pieces it uses: probe_limiter.h (max_concurrent_probes), watch_table.h (every
// watched domain: its schedule and its last round), evidence.h, outcome_json.h. The Service that owns the
// engine is in service.h, its admin API extensions in admin_extensions.h.
//
// GCC 12 destroys prvalue class arguments inside a co_await expression twice (a double
// free). Every co_await in the engine therefore awaits a named operation, built in the
// statement before from named (or lvalue) arguments.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "checks.h"
#include "environment.h"
#include "fetcher.h"
#include "metrics.h"
#include "store/policy_store.h"
#include "probe_limiter.h"
#include "resolver.h"
#include "settings.h"
#include "evidence.h"
#include "tracker.h"
#include "watch_table.h"
#include "zone/transfer_lag.h"

namespace stsd::confirm {

class ConfirmEngine final : public ConfirmApi {
 public:
  // `transfer_lag`: how far secondaries fed by zone transfers lag behind (`stsctl check`
  // adds the worst to "safe to add MX from").
  ConfirmEngine(ConfirmSettings settings, std::shared_ptr<Clock> clock,
                std::shared_ptr<const zone::TransferLag> transfer_lag);
  ~ConfirmEngine() override;

  void start(std::shared_ptr<store::PolicyStore> state);
  void stop();
  // Settings with the objects built from them; replaced as a whole on reload.
  struct Runtime {
    ConfirmSettings settings;
    std::shared_ptr<PolicyFetcher> fetcher;
    std::shared_ptr<DnsClient> dns;
  };
  // Builds everything new settings need (the fetcher reads the CA file here), so that a
  // reload finds a bad `ca_file` while it can still be refused. Throws when they cannot
  // be built (e.g. an unreadable CA file).
  static std::shared_ptr<const Runtime> prepare(ConfirmSettings settings);
  // Switches to prepared settings; nullptr pauses probing (the key was removed).
  void reload(std::shared_ptr<const Runtime> runtime);

  // ConfirmApi
  MxCoverage check_mx_coverage(const std::string& domain, const std::vector<std::string>& patterns) override;
  nlohmann::json run_check(const std::string& domain) override;
  std::optional<nlohmann::json> probe_status(const std::string& domain) override;
  std::vector<std::string> confirm_problems(const std::string& domain, uint32_t version) override;

  // Writes the confirmer's metrics (README "Metrics"): domains per probe phase, the
  // domains whose id rotation is held for drift, and probe/confirmation/drift counters.
  // Called at scrape time; takes the status mutex briefly, never during network I/O.
  void collect_metrics(metrics::MetricsWriter& writer) const;

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // The per-vantage facts a round compares with.
  struct Versions {
    std::string domain;
    std::optional<store::PolicyVersion> staged, confirmed;
    bool pending = false;  // the staged version is newer than the confirmed one
  };
  struct Target {
    Vantage vantage;
    std::string label;
    // The ETag the vantage sent with version `etag_version` last time ("" = ask plainly).
    std::string if_none_match{};
    uint32_t etag_version = 0;
  };
  struct VantagePlan {
    std::vector<Target> targets;
    std::optional<std::string> setup_error;
    bool configured = false;
  };

  // Set-up (confirmer.cpp).
  std::shared_ptr<const Runtime> runtime() const;
  static TrackerSettings tracker_settings(const ConfirmSettings& settings);
  TimePoint now() const { return clock_->now(); }
  int64_t now_ms() const;  // the process clock, Unix ms
  void subscribe_to_changes();
  void run_io_thread();
  // Runs a blocking lookup on the resolver threads (on_resolver_thread.h).
  template <class Result, class Function>
  boost::asio::awaitable<Result> on_resolver_thread(Function function);

  // Scheduling (scheduler.cpp).
  boost::asio::awaitable<void> scheduler();
  void resync_page();
  void start_watching(const std::string& domain, const store::ServedDomain& served);
  static bool is_pending(const store::ServedDomain& served);
  static void remember_versions(Watch& watch, const store::ServedDomain& served);
  void take_changes();
  void start_due_rounds();
  // Where a domain's id stands against its own rotation schedule (store/policy_id.h).
  struct RotationState {
    int64_t next_boundary = 0;      // the domain's next rotation boundary after now (Unix s)
    int64_t offset = 0;             // the domain's offset inside the rotation (s)
    bool held = false;              // the id is behind the current period for lack of evidence
    int64_t held_since = 0;         // then: the boundary it did not move at
    int64_t needs_evidence_at = 0;  // the first boundary the evidence does not cover yet
  };
  RotationState rotation_state(uint32_t hash, std::optional<int64_t> rotate_until) const;
  static int64_t verification_due_ms(const RotationState& rotation, const ConfirmSettings& settings);
  int64_t next_due_ms(bool confirmed, const RotationState& rotation, const RoundInput& input,
                      const RoundVerdict& verdict, const ConfirmSettings& settings);
  std::chrono::seconds jittered(std::chrono::seconds delay);

  // One round (round.cpp).
  boost::asio::awaitable<void> run_round(std::string domain);
  Trouble& trouble_of(WatchTable::Entry& entry, const ConfirmSettings& settings);
  std::optional<store::DomainStatus> read_status(const std::string& domain) const;
  static std::shared_ptr<Versions> versions_of(const std::string& domain, const store::DomainStatus& status);
  // `seen`: what each vantage served last round (the ETags to ask with).
  boost::asio::awaitable<RoundInput> probe_round(std::shared_ptr<const Runtime> runtime,
                                                 std::shared_ptr<const Versions> versions,
                                                 std::vector<std::string> domain_vantages,
                                                 std::vector<VantageMemo> seen);
  boost::asio::awaitable<VantagePlan> plan_vantages(std::shared_ptr<const Runtime> runtime, std::string domain,
                                                    std::vector<std::string> domain_vantages);
  boost::asio::awaitable<std::vector<VantageOutcome>> probe_all(std::shared_ptr<const Runtime> runtime,
                                                                std::shared_ptr<const Versions> versions,
                                                                std::vector<Target> targets);
  boost::asio::awaitable<VantageOutcome> probe_one(std::shared_ptr<const Runtime> runtime,
                                                   std::shared_ptr<const Versions> versions, Target target);
  void note_round_finished(const RoundInput& input);
  std::chrono::seconds next_round_delay(const RoundInput& input, const RoundVerdict& verdict);
  void finish_round(const std::string& domain, int64_t due_ms);

  // What a vantage served (compare.cpp).
  VantageOutcome compare(const Versions& versions, const Target& target, FetchResult fetched) const;
  void compare_body(const Versions& versions, const Target& target, const std::string& body,
                    VantageOutcome& outcome) const;
  // Names version `number` of the domain as what the vantage served (staged, confirmed, older).
  void name_version(const Versions& versions, const Target& target, uint32_t number, VantageOutcome& outcome) const;
  std::optional<uint32_t> older_version_of(const Versions& versions, const store::Policy& policy) const;

  // Acting on a verdict (verdict.cpp).
  void apply_verdict(const std::string& domain, Trouble& trouble, const store::DomainStatus& status,
                     const RoundVerdict& verdict, const RoundInput& input, const Evidence& evidence);
  bool confirm_if_still_staged(const std::string& domain, const Trouble& trouble, const RoundVerdict& verdict,
                               const RoundInput& input);
  void report_evidence(const std::string& domain, const RoundInput& input, const Evidence& evidence);
  void record_failure_once(const std::string& domain, Trouble& trouble, const RoundVerdict& verdict,
                           const RoundInput& input);
  void hold_while_drifting(const std::string& domain, Trouble& trouble, bool held, const RoundVerdict& verdict,
                           uint32_t confirmed);
  void release_hold_after_drift(const std::string& domain, Trouble& trouble, bool held, const RoundVerdict& verdict,
                                const RoundInput& input);

  // Status and metrics (status.cpp).
  void publish_round(WatchTable::Entry& entry, const RotationState& rotation, const RoundVerdict& verdict,
                     const RoundInput& input, const Evidence& evidence);
  nlohmann::json round_json(const std::string& domain, const Trouble& trouble, Phase phase, const RoundVerdict& verdict,
                            const RoundInput& input) const;
  static Phase phase_of(const Trouble& trouble, const RoundVerdict& verdict, const RoundInput& input);
  std::string summary_of(const Trouble& trouble, const RoundVerdict& verdict, const RoundInput& input) const;
  void add_rotation(nlohmann::json& json, const std::string& domain, TimePoint checked) const;
  // "rotation held since T: edge X still serves version 1 (...)"; "" when not held.
  std::string rotation_held_words(const std::string& domain, const store::DomainStatus& status) const;
  RotationState rotation_state_of(const std::string& domain, const store::DomainStatus& status) const;
  void count_probes(const std::vector<VantageOutcome>& outcomes, bool pending);

  // `stsctl check` (report.cpp).
  boost::asio::awaitable<nlohmann::json> build_report(std::string domain);

  std::shared_ptr<Clock> clock_;
  std::shared_ptr<const zone::TransferLag> transfer_lag_;
  mutable std::mutex runtime_mutex_;
  std::shared_ptr<const Runtime> runtime_;
  std::shared_ptr<store::PolicyStore> state_;
  store::PolicyStore::Subscription subscription_;

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<boost::asio::thread_pool> resolver_threads_;  // made in start(), not at set-up
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> paused_{false};

  // io thread only:
  boost::asio::steady_timer wake_{io_};
  ProbeLimiter limiter_{io_, 16};
  std::string resync_after_;  // where the walk of the store's domain list goes on
  SteadyTime next_resync_page_{};
  std::mt19937_64 random_{std::random_device{}()};

  std::mutex changes_mutex_;
  std::set<std::string> changed_;  // domains reported by subscribe, not yet looked at

  WatchTable table_;  // written by the io thread; read by the admin thread and scrapes

  // Counters (written by the io thread, read by scrapes).
  std::atomic<uint64_t> probes_match_{0}, probes_mismatch_{0}, probes_error_{0};
  std::atomic<uint64_t> confirmations_{0}, drift_events_{0};
  std::atomic<uint64_t> evidence_verified_{0}, evidence_unverified_{0};
  std::atomic<uint64_t> probes_not_modified_{0};
  std::atomic<int64_t> last_round_unix_ms_{0};  // 0: no round finished yet
};

}  // namespace stsd::confirm
