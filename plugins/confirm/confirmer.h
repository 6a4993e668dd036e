#pragma once
// The confirmer service (`confirm:` top-level key): one thread running an io_context on
// which probe rounds run as coroutines, plus two resolver threads for the blocking ldns
// lookups. Nothing here runs on, or waits for, a DNS answering thread.
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>   // Boost 1.74 awaitable.hpp uses std::exchange without including it

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
#include "registry.h"
#include "resolver.h"
#include "settings.h"
#include "tracker.h"

namespace stsd::confirm {

// Caps the number of probes in flight (single-threaded use on the io_context).
class ProbeLimiter {
 public:
  ProbeLimiter(boost::asio::io_context& io, size_t capacity) : io_(io), capacity_(capacity) {}
  boost::asio::awaitable<void> acquire();
  void release();
  void set_capacity(size_t capacity);
  size_t in_flight() const { return in_flight_; }

 private:
  boost::asio::io_context& io_;
  size_t capacity_;
  size_t in_flight_ = 0;
  std::deque<boost::asio::steady_timer*> waiters_;
};

class ConfirmEngine final : public ConfirmApi {
 public:
  ConfirmEngine(ConfirmSettings settings, std::shared_ptr<Clock> clock);
  ~ConfirmEngine() override;

  void start(std::shared_ptr<store::PolicyStore> state);
  void stop();
  // New settings (already validated); nullopt pauses probing (the key was removed).
  void reload(std::optional<ConfirmSettings> settings);

  // ConfirmApi
  MxCoverage check_mx_coverage(const std::string& domain, const std::vector<std::string>& patterns) override;
  nlohmann::json run_check(const std::string& domain) override;
  std::optional<nlohmann::json> probe_status(const std::string& domain) override;

  // Writes the confirmer's metrics (README "Metrics"): domains per probe phase, the
  // domains whose id rotation is held for drift (only those, so a provider with a
  // million domains exports a handful of lines), and probe/confirmation/drift counters.
  // Called at scrape time; takes the status mutex briefly, never during network I/O.
  void collect_metrics(metrics::MetricsWriter& writer) const;

  // The phase of a domain's last round, as `stsctl status` shows it.
  enum class Phase : uint8_t { Pending, Confirmed, Watching, Held, Drift, DriftOverridden };
  static constexpr size_t kPhaseCount = 6;
  static std::string_view phase_name(Phase phase);   // "pending", ..., "drift-overridden"

 private:
  // Settings with the objects built from them; replaced as a whole on reload.
  struct Runtime {
    ConfirmSettings settings;
    std::shared_ptr<PolicyFetcher> fetcher;
    std::shared_ptr<DnsClient> dns;
  };
  using SteadyTime = std::chrono::steady_clock::time_point;

  struct Watch {
    explicit Watch(TrackerSettings settings) : tracker(settings) {}
    DomainTracker tracker;
    SteadyTime due{};
    bool in_flight = false;
    uint32_t seen_staged = 0, seen_confirmed = 0;
    int64_t seen_settings = 0;
    bool held_by_us = false;
    uint32_t held_for_version = 0;
    std::string override_fingerprint;   // drift the operator chose to release
    std::string failure_fingerprint;    // last failure recorded in the event log
    std::optional<TimePoint> last_round_at;
    std::optional<TimePoint> next_round_at;
  };

  // The per-vantage facts a round compares with.
  struct Versions {
    std::string domain;
    std::optional<store::PolicyVersion> staged, confirmed;
    bool pending = false;
  };
  struct Target {
    Vantage vantage;
    std::string label;
  };
  struct VantagePlan {
    std::vector<Target> targets;
    std::optional<std::string> setup_error;
    bool configured = false;
  };

  static std::shared_ptr<const Runtime> make_runtime(ConfirmSettings settings);
  std::shared_ptr<const Runtime> runtime() const;
  static TrackerSettings tracker_settings(const ConfirmSettings& settings);
  TimePoint now() const { return clock_->now(); }

  boost::asio::awaitable<void> scheduler();
  boost::asio::awaitable<void> run_round(std::string domain);
  boost::asio::awaitable<VantagePlan> plan_vantages(std::shared_ptr<const Runtime> runtime, std::string domain,
                                                    std::vector<std::string> domain_vantages);
  boost::asio::awaitable<std::vector<VantageOutcome>> probe_all(std::shared_ptr<const Runtime> runtime,
                                                                std::shared_ptr<const Versions> versions,
                                                                std::vector<Target> targets);
  boost::asio::awaitable<VantageOutcome> probe_one(std::shared_ptr<const Runtime> runtime,
                                                   std::shared_ptr<const Versions> versions, Target target);
  boost::asio::awaitable<nlohmann::json> build_report(std::string domain);
  template <class Result, class Function>
  boost::asio::awaitable<Result> on_resolver_thread(Function function);

  VantageOutcome compare(const Versions& versions, const Target& target, FetchResult fetched) const;
  void apply_verdict(const std::string& domain, Watch& watch, const store::DomainStatus& status,
                     const RoundVerdict& verdict, const RoundInput& input);
  void publish_status(const std::string& domain, const Watch& watch, const store::DomainStatus& status,
                      const RoundVerdict& verdict, const RoundInput& input);
  void set_status(const std::string& domain, nlohmann::json json, Phase phase, bool failing);
  void forget_status(const std::string& domain);
  void count_probes(const std::vector<VantageOutcome>& outcomes, bool pending);
  void resync_domains();
  void take_changes();
  std::chrono::seconds jittered(std::chrono::seconds delay);

  std::shared_ptr<Clock> clock_;
  mutable std::mutex runtime_mutex_;
  std::shared_ptr<const Runtime> runtime_;
  std::shared_ptr<store::PolicyStore> state_;
  store::PolicyStore::Subscription subscription_;

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<boost::asio::thread_pool> resolver_threads_;   // made in start(), not at set-up
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> paused_{false};

  // io thread only:
  boost::asio::steady_timer wake_{io_};
  ProbeLimiter limiter_{io_, 16};
  std::map<std::string, Watch> watches_;
  SteadyTime next_resync_{};
  std::mt19937_64 random_{std::random_device{}()};

  std::mutex changes_mutex_;
  std::set<std::string> changed_;   // domains reported by subscribe, not yet looked at

  mutable std::mutex status_mutex_;
  std::unordered_map<std::string, nlohmann::json> status_;
  // For metrics, kept with status_ under status_mutex_: counts per phase are updated as
  // phases change, so a scrape does not walk every domain.
  struct PhaseEntry {
    Phase phase;
    bool failing;
  };
  std::unordered_map<std::string, PhaseEntry> phases_;
  std::array<size_t, kPhaseCount> phase_counts_{};
  size_t failing_count_ = 0;
  std::set<std::string> held_;   // domains in Phase::Held

  // Counters (written by the io thread, read by scrapes).
  std::atomic<uint64_t> probes_match_{0}, probes_mismatch_{0}, probes_error_{0};
  std::atomic<uint64_t> confirmations_{0}, drift_events_{0};
  std::atomic<int64_t> last_round_unix_ms_{0};   // 0: no round finished yet
};

// The Service registered for the top-level key `confirm`.
class ConfirmService final : public Service {
 public:
  ConfirmService(ConfirmSettings settings, Environment& env);
  void start() override;
  void stop() override;
  void reload(const ConfigNode* section) override;

 private:
  Environment& env_;
  std::shared_ptr<ConfirmEngine> engine_;
  metrics::MetricsRegistry::Registration metrics_;
};

}  // namespace stsd::confirm
