#include "confirmer.h"

#include <algorithm>
#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "logging.h"
#include "store/admin_extensions.h"

namespace stsd::confirm {

namespace asio = boost::asio;
using asio::redirect_error;
using asio::use_awaitable;
using std::chrono::seconds;

namespace {

constexpr auto kTick = std::chrono::seconds(1);
constexpr auto kResyncEvery = std::chrono::seconds(60);
constexpr uint32_t kOlderVersionsToCompare = 20;
// Certificates closer than this to expiry are reported by `check` (ACME renews at 30 days).
constexpr auto kCertificateWarning = std::chrono::hours(24 * 14);
// What `check` assumes when the TXT TTL cannot be read (the mtasts plugin's default).
constexpr uint32_t kAssumedTxtTtl = 300;

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

nlohmann::json time_or_null(const std::optional<TimePoint>& time) {
  if (!time) return nullptr;
  return store::unix_seconds(*time);
}

TimePoint from_unix(int64_t unix) { return TimePoint(std::chrono::seconds(unix)); }

std::string describe_policy(const store::Policy& policy) {
  return "mode " + std::string(store::mode_name(policy.mode)) + ", max_age " + std::to_string(policy.max_age) +
         ", mx " + (policy.mx.empty() ? std::string("(none)") : join(policy.mx, " "));
}

nlohmann::json outcome_json(const VantageOutcome& outcome) {
  return {{"vantage", outcome.vantage},
          {"label", outcome.label},
          {"served", served_name(outcome.served)},
          {"version", outcome.version},
          {"error", outcome.served == Served::Error ? std::string(fetch_error_name(outcome.error)) : std::string()},
          {"words", outcome.words},
          {"certificate_not_after", time_or_null(outcome.certificate_not_after)},
          {"elapsed_ms", outcome.elapsed.count()}};
}

// The id field of an MTA-STS TXT record (RFC 8461 §3.1), or "" when absent.
std::string sts_id(std::string_view record) {
  size_t start = 0;
  while (start <= record.size()) {
    size_t end = record.find(';', start);
    if (end == std::string_view::npos) end = record.size();
    auto field = record.substr(start, end - start);
    while (!field.empty() && (field.front() == ' ' || field.front() == '\t')) field.remove_prefix(1);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
    if (field.substr(0, 3) == "id=") return std::string(field.substr(3));
    start = end + 1;
  }
  return "";
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > store::kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

std::string matching_pattern(const std::vector<std::string>& patterns, const std::string& host) {
  for (const auto& pattern : patterns)
    if (store::mx_pattern_matches(pattern, host)) return pattern;
  return "";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// ProbeLimiter
// ---------------------------------------------------------------------------------------

asio::awaitable<void> ProbeLimiter::acquire() {
  while (in_flight_ >= capacity_) {
    asio::steady_timer timer(io_, asio::steady_timer::time_point::max());
    waiters_.push_back(&timer);
    boost::system::error_code ec;
    co_await timer.async_wait(redirect_error(use_awaitable, ec));
    // release() removed us from waiters_ before cancelling the timer.
  }
  ++in_flight_;
}

void ProbeLimiter::release() {
  if (in_flight_ > 0) --in_flight_;
  if (!waiters_.empty()) {
    auto* next = waiters_.front();
    waiters_.pop_front();
    next->cancel();
  }
}

void ProbeLimiter::set_capacity(size_t capacity) {
  capacity_ = std::max<size_t>(1, capacity);
  // Wake as many waiters as there are free slots now.
  size_t free = capacity_ > in_flight_ ? capacity_ - in_flight_ : 0;
  while (free-- > 0 && !waiters_.empty()) {
    auto* next = waiters_.front();
    waiters_.pop_front();
    next->cancel();
  }
}

// ---------------------------------------------------------------------------------------
// ConfirmEngine: set-up
// ---------------------------------------------------------------------------------------

ConfirmEngine::ConfirmEngine(ConfirmSettings settings, std::shared_ptr<Clock> clock)
    : clock_(std::move(clock)), runtime_(make_runtime(std::move(settings))) {
  limiter_.set_capacity(runtime_->settings.max_concurrent_probes);
}

ConfirmEngine::~ConfirmEngine() { stop(); }

std::shared_ptr<const ConfirmEngine::Runtime> ConfirmEngine::make_runtime(ConfirmSettings settings) {
  auto runtime = std::make_shared<Runtime>();
  runtime->fetcher = std::make_shared<PolicyFetcher>(settings.ca_file);
  // Each lookup may be tried twice; keep the pair within the probe timeout's order.
  runtime->dns = std::make_shared<DnsClient>(settings.resolver, std::max(seconds(1), settings.timeout / 2));
  runtime->settings = std::move(settings);
  return runtime;
}

std::shared_ptr<const ConfirmEngine::Runtime> ConfirmEngine::runtime() const {
  std::lock_guard lock(runtime_mutex_);
  return runtime_;
}

TrackerSettings ConfirmEngine::tracker_settings(const ConfirmSettings& settings) {
  TrackerSettings out;
  out.probes = settings.probes;
  out.soak = settings.soak;
  out.interval = settings.interval;
  out.drift_interval = settings.drift_interval;
  out.max_backoff = settings.max_backoff;
  return out;
}

void ConfirmEngine::start(std::shared_ptr<store::PolicyStore> state) {
  if (running_.exchange(true)) return;
  state_ = std::move(state);
  resolver_threads_ = std::make_unique<asio::thread_pool>(2);
  // Changes (stage, confirm, settings) wake the scheduler at once instead of at the next
  // tick; the callback runs on the writer's thread, so it only records and posts.
  subscription_ = state_->subscribe([this](const std::string& domain) {
    {
      std::lock_guard lock(changes_mutex_);
      changed_.insert(domain);
    }
    asio::post(io_, [this] { wake_.cancel(); });
  });
  work_.emplace(io_.get_executor());
  asio::co_spawn(io_, scheduler(), asio::detached);
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      log::error(std::string("confirm: prober stopped after an unexpected error: ") + e.what());
    }
  });
  auto settings = runtime()->settings;
  log::f(log::Level::Info, "confirm: probing pending policies every %llds (%u rounds over at least %llds), drift every %llds",
         static_cast<long long>(settings.interval.count()), settings.probes,
         static_cast<long long>(settings.soak.count()), static_cast<long long>(settings.drift_interval.count()));
}

void ConfirmEngine::stop() {
  if (!running_.exchange(false)) return;
  subscription_.reset();
  asio::post(io_, [this] {
    wake_.cancel();
    // Queued probes proceed at once and give up (probe_one checks running_).
    limiter_.set_capacity(SIZE_MAX);
  });
  work_.reset();
  // Rounds in flight end within one probe timeout; do not wait much longer than that.
  auto done = std::async(std::launch::async, [this] {
    if (thread_.joinable()) thread_.join();
  });
  const auto grace = runtime()->settings.timeout * 2 + seconds(2);
  if (done.wait_for(grace) == std::future_status::timeout) {
    io_.stop();
    done.wait();
  }
  if (resolver_threads_) resolver_threads_->join();
}

void ConfirmEngine::reload(std::optional<ConfirmSettings> settings) {
  if (!settings) {
    paused_ = true;
    log::info("confirm: section removed; probing paused");
    return;
  }
  auto fresh = make_runtime(std::move(*settings));
  {
    std::lock_guard lock(runtime_mutex_);
    runtime_ = fresh;
  }
  paused_ = false;
  asio::post(io_, [this, fresh] {
    limiter_.set_capacity(fresh->settings.max_concurrent_probes);
    for (auto& [domain, watch] : watches_) {
      watch.tracker.update_settings(tracker_settings(fresh->settings));
      watch.due = std::min(watch.due, std::chrono::steady_clock::now() + fresh->settings.interval);
    }
    wake_.cancel();
  });
}

std::chrono::seconds ConfirmEngine::jittered(std::chrono::seconds delay) {
  // ±20% so that domains failing together (one CDN outage) do not retry in lockstep.
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  auto result = std::chrono::seconds(static_cast<int64_t>(static_cast<double>(delay.count()) * factor(random_) + 0.5));
  return std::max(result, seconds(1));
}

// ---------------------------------------------------------------------------------------
// Scheduling
// ---------------------------------------------------------------------------------------

void ConfirmEngine::resync_domains() {
  std::vector<std::string> domains;
  try {
    domains = state_->domains();
  } catch (const std::exception& e) {
    log::warn(std::string("confirm: cannot list domains: ") + e.what());
    return;
  }
  const auto settings = tracker_settings(runtime()->settings);
  const auto now_steady = std::chrono::steady_clock::now();
  std::set<std::string> present(domains.begin(), domains.end());
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (!present.count(it->first) && !it->second.in_flight) {
      forget_status(it->first);
      it = watches_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& domain : domains) {
    auto [it, inserted] = watches_.try_emplace(domain, settings);
    if (inserted) it->second.due = now_steady;
  }
}

void ConfirmEngine::take_changes() {
  std::set<std::string> changed;
  {
    std::lock_guard lock(changes_mutex_);
    changed.swap(changed_);
  }
  const auto settings = tracker_settings(runtime()->settings);
  const auto now_steady = std::chrono::steady_clock::now();
  for (const auto& domain : changed) {
    auto served = state_->served(domain);
    auto it = watches_.find(domain);
    if (!served) {
      if (it != watches_.end() && !it->second.in_flight) {
        watches_.erase(it);
        forget_status(domain);
      }
      continue;
    }
    bool inserted = false;
    if (it == watches_.end()) {
      it = watches_.try_emplace(domain, settings).first;
      inserted = true;
    }
    Watch& watch = it->second;
    const uint32_t staged = served->staged ? served->staged->number : 0;
    const uint32_t confirmed = served->confirmed ? served->confirmed->number : 0;
    if (inserted || staged != watch.seen_staged || confirmed != watch.seen_confirmed ||
        served->settings_changed_at != watch.seen_settings)
      watch.due = now_steady;
    watch.seen_staged = staged;
    watch.seen_confirmed = confirmed;
    watch.seen_settings = served->settings_changed_at;
  }
}

asio::awaitable<void> ConfirmEngine::scheduler() {
  size_t rounds_in_flight = 0;
  while (running_) {
    // A store read that fails (I/O error, corrupt record) skips this tick, loudly; the
    // prober keeps running and tries again rather than stopping for good.
    try {
      const auto now_steady = std::chrono::steady_clock::now();
      if (now_steady >= next_resync_) {
        resync_domains();
        next_resync_ = now_steady + kResyncEvery;
      }
      take_changes();
      rounds_in_flight = 0;
      for (const auto& [domain, watch] : watches_) rounds_in_flight += watch.in_flight;
      // A round probes a few vantages; keeping at most `max_concurrent_probes` rounds in
      // flight bounds memory however many domains are due at once.
      const size_t max_rounds = runtime()->settings.max_concurrent_probes;
      if (!paused_) {
        for (auto& [domain, watch] : watches_) {
          if (rounds_in_flight >= max_rounds) break;
          if (watch.in_flight || watch.due > now_steady) continue;
          auto served = state_->served(domain);
          if (!served || (!served->staged && !served->confirmed)) {
            watch.due = now_steady + runtime()->settings.interval;   // nothing to probe yet
            continue;
          }
          watch.in_flight = true;
          ++rounds_in_flight;
          asio::co_spawn(io_, run_round(domain), asio::detached);
        }
      }
    } catch (const std::exception& e) {
      log::error(std::string("confirm: scheduling failed (retrying): ") + e.what());
    }
    boost::system::error_code ec;
    wake_.expires_after(kTick);
    co_await wake_.async_wait(redirect_error(use_awaitable, ec));
  }
}

namespace {

template <class Result, class Function>
asio::awaitable<Result> call_on_this_thread(Function function) {
  co_return function();
}

}  // namespace

// GCC 12 destroys prvalue class arguments inside a co_await expression twice (a
// double free). Every co_await below therefore awaits a named operation, built in the
// statement before from named (or lvalue) arguments.
template <class Result, class Function>
asio::awaitable<Result> ConfirmEngine::on_resolver_thread(Function function) {
  // ldns blocks; its lookups run on the resolver threads and resume here afterwards.
  auto task = call_on_this_thread<Result>(std::move(function));
  auto operation = asio::co_spawn(resolver_threads_->get_executor(), std::move(task), use_awaitable);
  Result result = co_await std::move(operation);
  co_return result;
}

// ---------------------------------------------------------------------------------------
// Probe rounds
// ---------------------------------------------------------------------------------------

asio::awaitable<ConfirmEngine::VantagePlan> ConfirmEngine::plan_vantages(std::shared_ptr<const Runtime> runtime,
                                                                         std::string domain,
                                                                         std::vector<std::string> domain_vantages) {
  VantagePlan plan;
  const auto& settings = runtime->settings;
  if (!domain_vantages.empty()) {
    plan.configured = true;
    for (const auto& text : domain_vantages) {
      std::string error;
      auto vantage = parse_vantage(text, settings.https_port, error);
      if (!vantage) {
        plan.setup_error = "vantage '" + text + "' of " + domain + " is not usable: " + error;
        co_return plan;
      }
      plan.targets.push_back({*vantage, "edge " + vantage->to_string()});
    }
    co_return plan;
  }
  if (!settings.vantages.empty()) {
    plan.configured = true;
    for (const auto& vantage : settings.vantages) plan.targets.push_back({vantage, "edge " + vantage.to_string()});
    co_return plan;
  }
  // Default: wherever senders' resolvers send them.
  const std::string host = "mta-sts." + domain;
  auto dns = runtime->dns;
  auto resolve = [dns, host] { return dns->addresses(host); };
  auto operation = on_resolver_thread<AddressLookup>(std::move(resolve));
  AddressLookup lookup = co_await std::move(operation);
  if (!lookup.ok() || lookup.addresses.empty()) {
    plan.setup_error = lookup.describe(host, "A/AAAA") + ", so there is no address to fetch the policy from";
    co_return plan;
  }
  for (const auto& address : lookup.addresses) {
    Vantage vantage{address, settings.https_port};
    plan.targets.push_back({vantage, "address " + vantage.to_string()});
  }
  co_return plan;
}

VantageOutcome ConfirmEngine::compare(const Versions& versions, const Target& target, FetchResult fetched) const {
  VantageOutcome outcome;
  outcome.vantage = target.vantage.to_string();
  outcome.label = target.label;
  outcome.error = fetched.error;
  outcome.certificate_not_after = fetched.certificate_not_after;
  outcome.elapsed = fetched.elapsed;
  if (!fetched.ok()) {
    outcome.served = Served::Error;
    outcome.words = target.label + ": " + fetched.message;
    outcome.fingerprint = std::string(fetch_error_name(fetched.error));
    return outcome;
  }
  auto parsed = store::parse_policy(fetched.body);
  if (!parsed.policy) {
    outcome.served = Served::Unparsable;
    const auto& first = parsed.errors.empty() ? store::Diagnostic{0, "not a policy"} : parsed.errors.front();
    outcome.words = target.label + " serves a file senders reject (line " + std::to_string(first.line) + ": " +
                    first.message + ")";
    outcome.fingerprint = "unparsable:" + std::to_string(std::hash<std::string>{}(fetched.body));
    return outcome;
  }
  const store::Policy& policy = *parsed.policy;
  outcome.fingerprint = store::policy_digest(policy);
  if (versions.pending && versions.staged && store::same_policy(policy, versions.staged->policy)) {
    outcome.served = Served::Staged;
    outcome.version = versions.staged->number;
    outcome.words = target.label + " serves version " + std::to_string(outcome.version);
    return outcome;
  }
  if (versions.confirmed && store::same_policy(policy, versions.confirmed->policy)) {
    outcome.served = Served::Confirmed;
    outcome.version = versions.confirmed->number;
    outcome.words = target.label + (versions.pending ? " still serves version " : " serves version ") +
                    std::to_string(outcome.version);
    return outcome;
  }
  // A stale cache serving an older version is the common CDN failure: say which.
  uint32_t newest = std::max(versions.staged ? versions.staged->number : 0,
                             versions.confirmed ? versions.confirmed->number : 0);
  for (uint32_t n = newest, looked = 0; n > 1 && looked < kOlderVersionsToCompare; ++looked) {
    --n;
    if ((versions.confirmed && n == versions.confirmed->number) || (versions.staged && n == versions.staged->number))
      continue;
    std::optional<store::PolicyVersion> older;
    try {
      older = state_->version(versions.domain, n);
    } catch (const std::exception&) {
      break;
    }
    if (older && store::same_policy(policy, older->policy)) {
      outcome.served = Served::Older;
      outcome.version = n;
      outcome.words = target.label + " still serves version " + std::to_string(n) + " (older than the " +
                      (versions.confirmed ? "confirmed version " + std::to_string(versions.confirmed->number)
                                          : std::string("staged version")) +
                      ")";
      return outcome;
    }
  }
  outcome.served = Served::Other;
  outcome.words = target.label + " serves a policy that matches no version of " + versions.domain + " (" +
                  describe_policy(policy) + ")";
  return outcome;
}

asio::awaitable<VantageOutcome> ConfirmEngine::probe_one(std::shared_ptr<const Runtime> runtime,
                                                         std::shared_ptr<const Versions> versions, Target target) {
  co_await limiter_.acquire();
  FetchResult fetched;
  if (!running_) {
    fetched.error = FetchError::Connect;
    fetched.message = "not probed: stsd is stopping";
  } else {
    try {
      FetchRequest request{versions->domain, target.vantage,
                           std::chrono::duration_cast<std::chrono::milliseconds>(runtime->settings.timeout)};
      auto operation = runtime->fetcher->fetch(std::move(request));
      fetched = co_await std::move(operation);
    } catch (const std::exception& e) {
      fetched.error = FetchError::Protocol;
      fetched.message = std::string("fetch failed: ") + e.what();
    }
  }
  limiter_.release();
  co_return compare(*versions, target, std::move(fetched));
}

namespace {

struct Gather {
  Gather(asio::io_context& io, size_t count)
      : done(io, asio::steady_timer::time_point::max()), results(count), remaining(count) {}
  asio::steady_timer done;
  std::vector<VantageOutcome> results;
  size_t remaining;
};

asio::awaitable<void> fill(std::shared_ptr<Gather> gather, size_t index, asio::awaitable<VantageOutcome> probe) {
  gather->results[index] = co_await std::move(probe);
  if (--gather->remaining == 0) gather->done.cancel();
}

}  // namespace

asio::awaitable<std::vector<VantageOutcome>> ConfirmEngine::probe_all(std::shared_ptr<const Runtime> runtime,
                                                                      std::shared_ptr<const Versions> versions,
                                                                      std::vector<Target> targets) {
  if (targets.empty()) co_return std::vector<VantageOutcome>{};
  // Every vantage at once (within the limiter): a round is a snapshot of what each
  // edge serves at about the same moment.
  auto gather = std::make_shared<Gather>(io_, targets.size());
  for (size_t i = 0; i < targets.size(); ++i)
    asio::co_spawn(io_, fill(gather, i, probe_one(runtime, versions, targets[i])), asio::detached);
  while (gather->remaining > 0) {
    boost::system::error_code ec;
    co_await gather->done.async_wait(redirect_error(use_awaitable, ec));
  }
  co_return std::move(gather->results);
}

asio::awaitable<void> ConfirmEngine::run_round(std::string domain) {
  auto runtime_now = runtime();
  const auto& settings = runtime_now->settings;
  auto reschedule = [&](std::chrono::seconds delay) {
    auto it = watches_.find(domain);
    if (it == watches_.end()) return;
    it->second.in_flight = false;
    it->second.due = std::chrono::steady_clock::now() + delay;
    it->second.next_round_at = now() + delay;
    wake_.cancel();   // a round slot is free
  };
  std::optional<store::DomainStatus> status;
  try {
    status = state_->status(domain, store::unix_seconds(now()));
  } catch (const std::exception& e) {
    log::warn("confirm: " + domain + ": cannot read its state: " + e.what());
  }
  if (!status) {
    reschedule(settings.interval);
    co_return;
  }
  auto versions = std::make_shared<Versions>();
  versions->domain = domain;
  versions->staged = status->staged;
  versions->confirmed = status->confirmed;
  versions->pending = status->staged && (!status->confirmed || status->staged->number > status->confirmed->number);
  if (!versions->pending && !versions->confirmed) {
    reschedule(settings.interval);
    co_return;
  }

  RoundInput input;
  if (versions->pending) input.pending = versions->staged->number;
  if (versions->confirmed) input.confirmed = versions->confirmed->number;
  try {
    auto planning = plan_vantages(runtime_now, domain, status->settings.vantages);
    VantagePlan plan = co_await std::move(planning);
    input.setup_error = plan.setup_error;
    if (!plan.setup_error) {
      auto probing = probe_all(runtime_now, versions, plan.targets);
      input.outcomes = co_await std::move(probing);
    }
  } catch (const std::exception& e) {
    input.setup_error = std::string("probe round failed: ") + e.what();
  }
  input.at = now();
  count_probes(input.outcomes, versions->pending);
  last_round_unix_ms_.store(
      std::chrono::duration_cast<std::chrono::milliseconds>(input.at.time_since_epoch()).count(),
      std::memory_order_relaxed);

  auto it = watches_.find(domain);
  if (it == watches_.end() || !running_) co_return;
  Watch& watch = it->second;
  RoundVerdict verdict = watch.tracker.record(input);
  try {
    apply_verdict(domain, watch, *status, verdict, input);
  } catch (const std::exception& e) {
    log::warn("confirm: " + domain + ": " + e.what());
  }
  // The plain interval keeps its rhythm (the soak is measured against it); backoff and
  // the long drift interval get jitter.
  const bool plain = input.pending && !verdict.failed && !verdict.confirm;
  const auto delay = plain ? verdict.next_delay : jittered(verdict.next_delay);
  watch.last_round_at = input.at;
  reschedule(delay);
  publish_status(domain, watch, *status, verdict, input);
}

void ConfirmEngine::apply_verdict(const std::string& domain, Watch& watch, const store::DomainStatus& status,
                                  const RoundVerdict& verdict, const RoundInput& input) {
  if (verdict.confirm && input.pending) {
    // Confirm only the version that was probed: if another was staged meanwhile, the
    // next round starts over for it.
    auto served = state_->served(domain);
    if (served && served->staged && served->staged->number == *input.pending) {
      state_->confirm(domain, *input.pending, false,
                      "served by every vantage on " + std::to_string(watch.tracker.streak()) + " consecutive rounds",
                      verdict.confirm_detail);
      confirmations_.fetch_add(1, std::memory_order_relaxed);
      log::info("confirm: " + domain + ": " + verdict.confirm_detail + "; confirmed");
    }
  }

  // A failing pending version is written to the event log once per distinct failure,
  // not once per round.
  if (input.pending && verdict.failed) {
    std::string fingerprint = input.setup_error ? "setup" : "";
    for (const auto& outcome : input.outcomes)
      if (outcome.served == Served::Error || outcome.served == Served::Other || outcome.served == Served::Unparsable)
        fingerprint += outcome.vantage + "=" + outcome.fingerprint + ",";
    if (fingerprint != watch.failure_fingerprint) {
      state_->record_event(domain, "probe_failed", *input.pending, verdict.summary);
      watch.failure_fingerprint = fingerprint;
    }
  } else if (!verdict.failed) {
    watch.failure_fingerprint.clear();
  }

  // Drift watch: hold the id while the confirmed version is not what is served.
  const bool held = status.hold.has_value();
  if (verdict.drift && input.confirmed) {
    const std::string fingerprint = std::to_string(*input.confirmed) + "|" + verdict.drift_fingerprint;
    if (held) {
      watch.held_by_us = true;   // also adopts a hold set before a restart
      watch.held_for_version = *input.confirmed;
    } else if (watch.held_by_us && watch.held_for_version == *input.confirmed) {
      // We held it, and the hold is gone while the drift persists: an operator released
      // it. Respect that until what is served changes.
      watch.held_by_us = false;
      watch.override_fingerprint = fingerprint;
      state_->record_event(domain, "drift_override", *input.confirmed,
                           "hold released by an operator while drift persists; not held again until what is "
                           "served changes: " + verdict.drift_reason);
    } else if (fingerprint != watch.override_fingerprint) {
      state_->record_event(domain, "drift", *input.confirmed, verdict.drift_reason);
      state_->set_hold(domain, verdict.drift_reason);
      drift_events_.fetch_add(1, std::memory_order_relaxed);
      watch.held_by_us = true;
      watch.held_for_version = *input.confirmed;
      log::warn("confirm: " + domain + ": " + verdict.drift_reason + "; id rotation held");
    }
  } else {
    watch.override_fingerprint.clear();
    if (held && input.confirmed && !verdict.confirm && !input.setup_error && !input.outcomes.empty()) {
      state_->set_hold(domain, std::nullopt);
      log::info("confirm: " + domain + ": version " + std::to_string(*input.confirmed) +
                " is served everywhere again; id rotation resumes");
    }
    watch.held_by_us = false;
  }
}

void ConfirmEngine::publish_status(const std::string& domain, const Watch& watch, const store::DomainStatus& status,
                                   const RoundVerdict& verdict, const RoundInput& input) {
  const auto& settings = runtime()->settings;
  Phase phase_value = Phase::Watching;
  if (verdict.confirm) phase_value = Phase::Confirmed;
  else if (input.pending) phase_value = Phase::Pending;
  if (verdict.drift)
    phase_value = watch.held_by_us ? Phase::Held
                                   : (watch.override_fingerprint.empty() ? Phase::Drift : Phase::DriftOverridden);
  const std::string phase(phase_name(phase_value));
  std::string summary = verdict.summary;
  if (!watch.override_fingerprint.empty() && verdict.drift)
    summary += "; the hold was released by an operator, so the id rotates anyway";
  else if (verdict.drift && watch.held_by_us)
    summary += "; id rotation held until every vantage serves version " + std::to_string(*input.confirmed) + " again";
  if (watch.next_round_at && !verdict.confirm)
    summary += "; next probe in " + describe_duration(std::chrono::ceil<seconds>(*watch.next_round_at - now()));
  nlohmann::json vantages = nlohmann::json::array();
  for (const auto& outcome : input.outcomes) vantages.push_back(outcome_json(outcome));
  nlohmann::json json = {
      {"domain", domain},
      {"phase", phase},
      {"summary", summary},
      {"target_version", input.pending ? nlohmann::json(*input.pending) : nlohmann::json(nullptr)},
      {"confirmed_version", input.confirmed ? nlohmann::json(*input.confirmed) : nlohmann::json(nullptr)},
      {"streak", watch.tracker.streak()},
      {"needed", settings.probes},
      {"soak_seconds", settings.soak.count()},
      {"streak_started_at", time_or_null(watch.tracker.streak_started())},
      {"last_round_at", time_or_null(watch.last_round_at)},
      {"next_round_at", time_or_null(watch.next_round_at)},
      {"consecutive_failures", watch.tracker.consecutive_failures()},
      {"setup_error", input.setup_error ? nlohmann::json(*input.setup_error) : nlohmann::json(nullptr)},
      {"drift", verdict.drift ? nlohmann::json(verdict.drift_reason) : nlohmann::json(nullptr)},
      {"hold", status.hold && !verdict.confirm ? nlohmann::json(status.hold->reason) : nlohmann::json(nullptr)},
      {"vantages", vantages},
  };
  if (verdict.drift && watch.held_by_us) json["hold"] = verdict.drift_reason;
  if (!verdict.drift && !input.outcomes.empty()) json["hold"] = nullptr;
  set_status(domain, std::move(json), phase_value, verdict.failed);
}

std::string_view ConfirmEngine::phase_name(Phase phase) {
  switch (phase) {
    case Phase::Pending: return "pending";
    case Phase::Confirmed: return "confirmed";
    case Phase::Watching: return "watching";
    case Phase::Held: return "held";
    case Phase::Drift: return "drift";
    case Phase::DriftOverridden: return "drift-overridden";
  }
  return "unknown";
}

void ConfirmEngine::set_status(const std::string& domain, nlohmann::json json, Phase phase, bool failing) {
  std::lock_guard lock(status_mutex_);
  status_[domain] = std::move(json);
  auto [it, inserted] = phases_.try_emplace(domain, PhaseEntry{phase, failing});
  if (!inserted) {
    --phase_counts_[static_cast<size_t>(it->second.phase)];
    failing_count_ -= it->second.failing;
    if (it->second.phase == Phase::Held && phase != Phase::Held) held_.erase(domain);
    it->second = PhaseEntry{phase, failing};
  }
  ++phase_counts_[static_cast<size_t>(phase)];
  failing_count_ += failing;
  if (phase == Phase::Held) held_.insert(domain);
}

void ConfirmEngine::forget_status(const std::string& domain) {
  std::lock_guard lock(status_mutex_);
  status_.erase(domain);
  auto it = phases_.find(domain);
  if (it == phases_.end()) return;
  --phase_counts_[static_cast<size_t>(it->second.phase)];
  failing_count_ -= it->second.failing;
  held_.erase(domain);
  phases_.erase(it);
}

void ConfirmEngine::count_probes(const std::vector<VantageOutcome>& outcomes, bool pending) {
  for (const auto& outcome : outcomes) {
    switch (outcome.served) {
      case Served::Staged:
        probes_match_.fetch_add(1, std::memory_order_relaxed);
        break;
      case Served::Confirmed:
        // While a version is pending, the confirmed one is the old file still served.
        (pending ? probes_mismatch_ : probes_match_).fetch_add(1, std::memory_order_relaxed);
        break;
      case Served::Older:
      case Served::Other:
      case Served::Unparsable:
        probes_mismatch_.fetch_add(1, std::memory_order_relaxed);
        break;
      case Served::Error:
        probes_error_.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
}

void ConfirmEngine::collect_metrics(metrics::MetricsWriter& writer) const {
  std::array<size_t, kPhaseCount> counts{};
  size_t failing = 0;
  std::vector<std::string> held;
  {
    std::lock_guard lock(status_mutex_);
    counts = phase_counts_;
    failing = failing_count_;
    held.assign(held_.begin(), held_.end());
  }
  for (size_t i = 0; i < kPhaseCount; ++i) {
    std::string state(phase_name(static_cast<Phase>(i)));
    std::replace(state.begin(), state.end(), '-', '_');
    writer.gauge("stsd_confirm_domains",
                 "Domains by the phase of their last probe round (as `stsctl status` shows it; "
                 "domains not probed yet are not counted).",
                 {{"state", state}}, static_cast<double>(counts[i]));
  }
  writer.gauge("stsd_confirm_failing_domains", "Domains whose last probe round failed (fetch error or wrong policy).",
               {}, static_cast<double>(failing));
  static constexpr const char* kHeldHelp =
      "1 for each domain whose id rotation is held because a vantage serves neither the confirmed nor the staged "
      "policy (drift); domains not held are not listed.";
  writer.declare("stsd_confirm_drift_held", kHeldHelp, metrics::Type::Gauge);
  for (const auto& domain : held) writer.gauge("stsd_confirm_drift_held", kHeldHelp, {{"domain", domain}}, 1);
  const int64_t last = last_round_unix_ms_.load(std::memory_order_relaxed);
  if (last != 0)
    writer.gauge("stsd_confirm_last_probe_timestamp_seconds", "When the last probe round finished (Unix time).", {},
                 static_cast<double>(last) / 1000.0);
  static constexpr const char* kProbesHelp =
      "Policy fetches by result: match (the version expected), mismatch (another file), error (no usable answer).";
  writer.counter("stsd_confirm_probes_total", kProbesHelp, {{"result", "match"}},
                 static_cast<double>(probes_match_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_probes_total", kProbesHelp, {{"result", "mismatch"}},
                 static_cast<double>(probes_mismatch_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_probes_total", kProbesHelp, {{"result", "error"}},
                 static_cast<double>(probes_error_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_confirmations_total", "Versions confirmed automatically by the confirmer.", {},
                 static_cast<double>(confirmations_.load(std::memory_order_relaxed)));
  writer.counter("stsd_confirm_drift_events_total", "Drifts detected that held a domain's id rotation.", {},
                 static_cast<double>(drift_events_.load(std::memory_order_relaxed)));
}

std::optional<nlohmann::json> ConfirmEngine::probe_status(const std::string& domain) {
  std::string key = domain;
  try {
    key = store::normalize_domain(domain);
  } catch (const std::exception&) {
  }
  std::lock_guard lock(status_mutex_);
  auto it = status_.find(key);
  if (it == status_.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------------------------------
// MX coverage and `stsctl check`
// ---------------------------------------------------------------------------------------

MxCoverage ConfirmEngine::check_mx_coverage(const std::string& domain_text, const std::vector<std::string>& patterns) {
  MxCoverage coverage;
  std::string domain;
  try {
    domain = store::normalize_domain(domain_text);
  } catch (const std::exception& e) {
    coverage.domain = domain_text;
    coverage.error = e.what();
    return coverage;
  }
  coverage.domain = domain;
  auto dns = runtime()->dns;
  MxLookup mx = dns->mx(domain);
  switch (mx.status) {
    case LookupStatus::Failed:
      coverage.error = mx.describe(domain, "MX");
      return coverage;
    case LookupStatus::NxDomain:
      coverage.resolved = true;   // a domain that does not exist receives no mail
      return coverage;
    case LookupStatus::NoData:
      // RFC 5321 §5.1: no MX means the domain itself is the mail host.
      coverage.resolved = true;
      coverage.no_mx = true;
      coverage.hosts.push_back({domain, 0, matching_pattern(patterns, domain)});
      return coverage;
    case LookupStatus::Ok:
      break;
  }
  coverage.resolved = true;
  if (mx.null_mx()) {
    coverage.null_mx = true;
    return coverage;
  }
  for (const auto& record : mx.records)
    coverage.hosts.push_back({record.host, record.preference, matching_pattern(patterns, record.host)});
  return coverage;
}

nlohmann::json ConfirmEngine::run_check(const std::string& domain_text) {
  std::string domain;
  try {
    domain = store::normalize_domain(domain_text);
  } catch (const std::exception& e) {
    throw std::invalid_argument(e.what());
  }
  if (!running_) throw std::runtime_error("the confirmer is not running");
  if (!state_->has_domain(domain)) throw std::invalid_argument("no domain " + domain + " in the store");
  auto future = asio::co_spawn(io_, build_report(domain), asio::use_future);
  // DNS lookups (4, each bounded) and one fetch round (bounded by the timeout).
  const auto bound = runtime()->settings.timeout * 6 + seconds(10);
  if (future.wait_for(bound) != std::future_status::ready)
    throw std::runtime_error("the check of " + domain + " did not finish within " + describe_duration(bound));
  return future.get();
}

asio::awaitable<nlohmann::json> ConfirmEngine::build_report(std::string domain) {
  auto rt = runtime();
  auto dns = rt->dns;
  const TimePoint checked = now();
  const int64_t unix_now = store::unix_seconds(checked);
  auto status = state_->status(domain, unix_now);
  if (!status) throw std::invalid_argument("no domain " + domain + " in the store");
  std::vector<std::string> lines, problems;
  nlohmann::json report;
  report["domain"] = domain;
  report["checked_at"] = unix_now;
  lines.push_back("Check of " + domain + " at " + format_utc(checked) + " through resolver " + dns->server_text());

  // What the store says.
  const bool pending = status->staged && (!status->confirmed || status->staged->number > status->confirmed->number);
  {
    std::string line = "stsd: ";
    if (status->confirmed && status->confirmation)
      line += "version " + std::to_string(status->confirmed->number) + " confirmed " +
              (status->confirmation->manual ? "by hand" : "automatically") + " at " +
              format_utc(from_unix(status->confirmation->at));
    else
      line += "nothing confirmed yet (no TXT record is served)";
    if (pending) line += "; version " + std::to_string(status->staged->number) + " staged, waiting for confirmation";
    if (!status->served_id.empty()) line += "; serving id " + status->served_id;
    if (status->hold) line += "; id rotation HELD: " + status->hold->reason;
    lines.push_back(line);
    report["store"] = {{"confirmed_version", status->confirmed ? nlohmann::json(status->confirmed->number) : nlohmann::json(nullptr)},
                       {"staged_version", status->staged ? nlohmann::json(status->staged->number) : nlohmann::json(nullptr)},
                       {"pending", pending},
                       {"served_id", status->served_id},
                       {"hold", status->hold ? nlohmann::json(status->hold->reason) : nlohmann::json(nullptr)}};
  }

  // 1. The TXT record as the world sees it (RFC 8461 §3.1).
  const std::string txt_name = "_mta-sts." + domain;
  auto resolve_txt = [dns, txt_name] { return dns->txt(txt_name); };
  auto txt_operation = on_resolver_thread<TxtLookup>(std::move(resolve_txt));
  TxtLookup txt = co_await std::move(txt_operation);
  {
    nlohmann::json records = nlohmann::json::array();
    std::vector<std::string> sts, others;
    bool multi_string = false;
    for (const auto& record : txt.records) {
      records.push_back(record.text);
      // RFC 8461 §3.1: records not starting with v=STSv1 are not MTA-STS records.
      (record.text.rfind("v=STSv1", 0) == 0 ? sts : others).push_back(record.text);
      multi_string |= record.strings > 1;
    }
    std::string id = sts.size() == 1 ? sts_id(sts.front()) : "";
    std::string words;
    bool ok = false;
    const std::string via = txt.cname_chain.empty() ? "" : " via CNAME " + join(txt.cname_chain, " -> ");
    if (txt.status == LookupStatus::Failed) {
      words = "TXT " + txt_name + ": " + txt.describe(txt_name, "TXT");
      problems.push_back(words);
    } else if (sts.empty()) {
      words = "TXT " + txt_name + via + ": no v=STSv1 record";
      if (status->confirmed) {
        words += " (senders see no policy)";
        problems.push_back(words);
      } else {
        words += " (expected: nothing is confirmed yet)";
        ok = true;
      }
    } else if (sts.size() > 1) {
      words = "TXT " + txt_name + via + ": " + std::to_string(sts.size()) +
              " v=STSv1 records (senders treat that as no policy; mailauth drops its cached one)";
      problems.push_back(words);
    } else {
      words = "TXT " + txt_name + via + ": one record \"" + sts.front() + "\" (TTL " + std::to_string(txt.ttl) + " s)";
      if (!valid_id(id)) {
        words += "; its id is not 1-32 letters or digits";
        problems.push_back(words);
      } else if (id == status->served_id) {
        words += "; it carries the id stsd serves now";
        ok = true;
      } else if (status->served_id.empty()) {
        words += "; stsd serves no record for " + domain + " (nothing confirmed), so this one comes from elsewhere";
        problems.push_back(words);
      } else {
        // Just after a rotation a cache may still hold the previous period's id.
        std::string previous;
        if (status->confirmed) {
          const auto rotation = state_->rotation();
          const int64_t period = store::period_start(unix_now, rotation) - rotation.count();
          previous = store::policy_id(period, rotation, status->confirmed->number, status->confirmed->digest);
        }
        if (!previous.empty() && id == previous) {
          words += "; it is the previous period's id (stsd now serves " + status->served_id +
                   "), still cached for up to " + std::to_string(txt.ttl) + " s";
          ok = true;
        } else {
          words += "; stsd serves id " + status->served_id + ": " + txt_name +
                   " does not reach stsd (check the NS or CNAME delegation), or a cache holds an old record";
          problems.push_back(words);
        }
      }
    }
    if (!others.empty()) {
      std::string other_words = "TXT " + txt_name + " also has " + std::to_string(others.size()) +
                                " other TXT record(s) (maddy then ignores MTA-STS): " + join(others, " | ");
      problems.push_back(other_words);
      words += "; " + other_words;
      ok = false;
    }
    if (multi_string) words += "; a record is split into several strings (allowed, but some senders mishandle it)";
    lines.push_back(words);
    report["txt"] = {{"name", txt_name}, {"status", txt.describe(txt_name, "TXT")}, {"records", records},
                     {"sts_records", sts.size()}, {"cname_chain", txt.cname_chain}, {"id", id},
                     {"served_id", status->served_id}, {"ttl", txt.ttl}, {"ok", ok}, {"words", words}};
  }

  // 2. The policy from each vantage, and its certificate.
  {
    auto versions = std::make_shared<Versions>();
    versions->domain = domain;
    versions->staged = status->staged;
    versions->confirmed = status->confirmed;
    versions->pending = pending;
    auto planning = plan_vantages(rt, domain, status->settings.vantages);
    VantagePlan plan = co_await std::move(planning);
    std::vector<VantageOutcome> outcomes;
    if (plan.setup_error) {
      problems.push_back("policy: " + *plan.setup_error);
      lines.push_back("Policy: " + *plan.setup_error);
    } else {
      auto probing = probe_all(rt, versions, plan.targets);
      outcomes = co_await std::move(probing);
    }
    nlohmann::json vantages = nlohmann::json::array();
    for (const auto& outcome : outcomes) {
      std::string line = "Policy: " + outcome.words;
      if (outcome.served == Served::Staged) line += " (staged, not yet confirmed)";
      if (outcome.served == Served::Confirmed) line += pending ? " (the confirmed one; the staged one has not reached it yet)" : " (the confirmed one)";
      const bool bad = outcome.served == Served::Error || outcome.served == Served::Other ||
                       outcome.served == Served::Unparsable || outcome.served == Served::Older;
      if (bad) problems.push_back(outcome.words);
      if (outcome.certificate_not_after) {
        const auto left = std::chrono::duration_cast<seconds>(*outcome.certificate_not_after - checked);
        if (left.count() > 0) {
          line += "; certificate valid until " + format_utc(*outcome.certificate_not_after) + " (" +
                  describe_duration(left) + " left)";
          if (left < kCertificateWarning)
            problems.push_back(outcome.label + ": certificate for mta-sts." + domain + " expires in " +
                               describe_duration(left));
        }
      }
      lines.push_back(line);
      vantages.push_back(outcome_json(outcome));
    }
    report["vantages"] = vantages;
    report["vantage_source"] = plan.configured ? "configured" : "resolved";
  }

  // 3. MX coverage (RFC 8461 §4.1).
  {
    auto resolve_mx = [dns, domain] { return dns->mx(domain); };
    auto mx_operation = on_resolver_thread<MxLookup>(std::move(resolve_mx));
    MxLookup mx = co_await std::move(mx_operation);
    nlohmann::json hosts = nlohmann::json::array();
    std::vector<std::pair<std::string, unsigned>> mail_hosts;
    std::string words;
    const bool no_mx = mx.status == LookupStatus::NoData;
    if (mx.status == LookupStatus::Failed) {
      words = "MX: " + mx.describe(domain, "MX");
      problems.push_back(words);
    } else if (mx.status == LookupStatus::NxDomain) {
      words = "MX: " + domain + " does not exist in DNS (NXDOMAIN)";
      problems.push_back(words);
    } else if (mx.null_mx()) {
      words = "MX: null MX (RFC 7505): " + domain + " accepts no mail";
    } else if (no_mx) {
      words = "MX: none; mail goes to " + domain + " itself (RFC 5321 §5.1)";
      mail_hosts.push_back({domain, 0});
    } else {
      words = "MX: " + std::to_string(mx.records.size()) + " host(s)";
      for (const auto& record : mx.records) mail_hosts.push_back({record.host, record.preference});
    }
    lines.push_back(words);
    for (const auto& [host, preference] : mail_hosts) {
      std::string confirmed_pattern, staged_pattern;
      if (status->confirmed) confirmed_pattern = matching_pattern(status->confirmed->policy.mx, host);
      if (pending) staged_pattern = matching_pattern(status->staged->policy.mx, host);
      std::string line = "MX " + host + " (preference " + std::to_string(preference) + "): ";
      std::vector<std::string> parts;
      if (status->confirmed) {
        const auto& policy = status->confirmed->policy;
        const std::string v = "version " + std::to_string(status->confirmed->number);
        if (!confirmed_pattern.empty()) {
          parts.push_back("covered by " + confirmed_pattern + " in confirmed " + v);
        } else {
          parts.push_back("NOT covered by confirmed " + v + " (mode " + std::string(store::mode_name(policy.mode)) + ")");
          if (policy.mode == store::Mode::Enforce)
            problems.push_back("MX host " + host + " is not covered by the confirmed policy (" + v +
                               ", enforce): senders that enforce MTA-STS refuse to deliver to it");
          else if (policy.mode == store::Mode::Testing)
            problems.push_back("MX host " + host + " is not covered by the confirmed policy (" + v +
                               ", testing): senders report failures for it");
        }
      }
      if (pending) {
        const auto& policy = status->staged->policy;
        const std::string v = "version " + std::to_string(status->staged->number);
        if (!staged_pattern.empty()) {
          parts.push_back("covered by " + staged_pattern + " in staged " + v);
        } else {
          parts.push_back("NOT covered by staged " + v);
          if (policy.mode != store::Mode::None)
            problems.push_back("MX host " + host + " is not covered by the staged policy (" + v + ", " +
                               std::string(store::mode_name(policy.mode)) + "): confirming it would break delivery there");
        }
      }
      if (parts.empty()) parts.push_back("no policy to check against");
      lines.push_back(line + join(parts, "; "));
      hosts.push_back({{"host", host}, {"preference", preference}, {"confirmed_pattern", confirmed_pattern},
                       {"staged_pattern", staged_pattern}});
    }
    report["mx"] = {{"resolved", mx.status != LookupStatus::Failed}, {"error", mx.error},
                    {"null_mx", mx.null_mx()}, {"no_mx", no_mx}, {"hosts", hosts}, {"words", words}};
  }

  // 4. TLS-RPT (RFC 8460 §3).
  {
    const std::string name = "_smtp._tls." + domain;
    auto resolve_tlsrpt = [dns, name] { return dns->txt(name); };
    auto tlsrpt_operation = on_resolver_thread<TxtLookup>(std::move(resolve_tlsrpt));
    TxtLookup tlsrpt = co_await std::move(tlsrpt_operation);
    const std::string expected = store::tlsrpt_record(status->settings.tlsrpt_rua);
    std::vector<std::string> records;
    for (const auto& record : tlsrpt.records)
      if (record.text.rfind("v=TLSRPTv1", 0) == 0) records.push_back(record.text);
    std::string words = "TLS-RPT " + name + ": ";
    bool ok = true;
    if (tlsrpt.status == LookupStatus::Failed) {
      words += tlsrpt.describe(name, "TXT");
      ok = false;
    } else if (records.empty()) {
      words += expected.empty() ? "no record (none configured in stsd)" : "no record, but stsd is configured to serve \"" + expected + "\"";
      ok = expected.empty();
    } else if (records.size() > 1) {
      words += std::to_string(records.size()) + " v=TLSRPTv1 records (senders use none of them)";
      ok = false;
    } else if (expected.empty()) {
      words += "\"" + records.front() + "\" (served from elsewhere; stsd has no TLS-RPT URIs for " + domain + ")";
    } else if (records.front() == expected) {
      words += "one record \"" + records.front() + "\", as configured";
    } else {
      words += "\"" + records.front() + "\" differs from what stsd serves (\"" + expected + "\")";
      ok = false;
    }
    if (!ok) problems.push_back(words);
    lines.push_back(words);
    report["tlsrpt"] = {{"name", name}, {"records", records}, {"expected", expected}, {"ok", ok}, {"words", words}};
  }

  // 5. When a new MX host is safe: every sender has re-fetched a policy that lists it
  // once the id moved at confirmation, a full rotation period passed (senders refresh
  // about daily) and the old TXT record left caches (its TTL).
  {
    const auto rotation = state_->rotation();
    const bool ttl_known = report["txt"]["sts_records"] == 1;
    const uint32_t ttl = ttl_known ? txt.ttl : kAssumedTxtTtl;
    const std::string ttl_words = std::to_string(ttl) + " s" + (ttl_known ? "" : " (assumed)");
    nlohmann::json safe = nlohmann::json::array();
    std::vector<std::string> listed;
    if (status->confirmed && status->confirmation) {
      const TimePoint from = from_unix(status->confirmation->at) + rotation + seconds(ttl);
      for (const auto& pattern : status->confirmed->policy.mx) {
        listed.push_back(pattern);
        std::string words = "Safe to add MX host " + pattern + " from " + format_utc(from) +
                            (from <= checked ? " (already)" : "") + ": confirmed at " +
                            format_utc(from_unix(status->confirmation->at)) + " + rotation " +
                            describe_duration(rotation) + " + TXT TTL " + ttl_words;
        lines.push_back(words);
        safe.push_back({{"pattern", pattern}, {"version", status->confirmed->number},
                        {"from", store::unix_seconds(from)}, {"words", words}});
      }
    }
    if (pending) {
      for (const auto& pattern : status->staged->policy.mx) {
        if (std::find(listed.begin(), listed.end(), pattern) != listed.end()) continue;
        std::string words = "Safe to add MX host " + pattern + ": not before version " +
                            std::to_string(status->staged->number) + " is confirmed, then + rotation " +
                            describe_duration(rotation) + " + TXT TTL " + ttl_words;
        lines.push_back(words);
        safe.push_back({{"pattern", pattern}, {"version", status->staged->number}, {"from", nullptr}, {"words", words}});
      }
    }
    report["safe_to_add"] = safe;
  }

  if (problems.empty()) {
    lines.push_back("Result: no problems found");
  } else {
    lines.push_back("Result: " + std::to_string(problems.size()) + " problem" + (problems.size() == 1 ? "" : "s") + ":");
    for (const auto& problem : problems) lines.push_back("  - " + problem);
  }
  report["ok"] = problems.empty();
  report["problems"] = problems;
  report["text"] = join(lines, "\n");
  co_return report;
}

// ---------------------------------------------------------------------------------------
// ConfirmService
// ---------------------------------------------------------------------------------------

ConfirmService::ConfirmService(ConfirmSettings settings, Environment& env)
    : env_(env), engine_(std::make_shared<ConfirmEngine>(std::move(settings), env.clock_ptr())) {}

void ConfirmService::start() {
  auto state = store::PolicyStore::open(env_);
  auto registered = env_.shared<ConfirmApi>(kConfirmApiKey, [this] { return std::shared_ptr<ConfirmApi>(engine_); });
  if (registered.get() != static_cast<ConfirmApi*>(engine_.get()))
    log::warn("confirm: another confirmer is already registered; this one probes but does not answer checks");
  engine_->start(std::move(state));
  {
    std::shared_ptr<ConfirmEngine> engine = engine_;
    metrics_ = metrics::metrics_registry(env_)->add("confirm", [engine](metrics::MetricsWriter& writer) {
      engine->collect_metrics(writer);
    });
  }
  if (registered.get() == static_cast<ConfirmApi*>(engine_.get())) {
    auto hooks = store::AdminExtensions::get(env_);
    std::shared_ptr<ConfirmEngine> engine = engine_;
    // `stsctl policy stage` (issue 4): an enforce policy must cover every current MX host.
    hooks->add_stage_check([engine](const std::string& domain, const store::Policy& policy) {
      std::vector<std::string> problems;
      if (policy.mode != store::Mode::Enforce) return problems;
      auto coverage = engine->check_mx_coverage(domain, policy.mx);
      if (!coverage.acceptable()) problems.push_back(coverage.problem());
      return problems;
    });
    // `stsctl status`: the probe state in plain words.
    hooks->add_status_section("confirm", [engine](const std::string& domain) {
      auto probe = engine->probe_status(domain);
      if (!probe) return nlohmann::json{{"lines", {"not probed yet (nothing staged or confirmed, or the first round is running)"}}};
      nlohmann::json section = *probe;
      nlohmann::json lines = nlohmann::json::array();
      lines.push_back((*probe)["summary"]);
      for (const auto& vantage : (*probe)["vantages"]) lines.push_back(vantage["words"]);
      section["lines"] = lines;
      return section;
    });
    // `stsctl check DOMAIN`.
    hooks->add_domain_route("GET", "check", [engine](const std::string& domain, const nlohmann::json&) {
      try {
        return engine->run_check(domain);
      } catch (const std::invalid_argument& e) {
        throw store::PolicyError(e.what());
      }
    });
  }
}

void ConfirmService::stop() {
  metrics_.reset();
  engine_->stop();
}

void ConfirmService::reload(const ConfigNode* section) {
  if (!section) {
    engine_->reload(std::nullopt);
    return;
  }
  engine_->reload(parse_settings(section));
}

}  // namespace stsd::confirm
