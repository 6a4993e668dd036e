// One probe round of a domain, in phases: read what the store holds, plan the vantages,
// fetch from all of them at about the same moment, let the tracker judge the round, act
// on its verdict, schedule the next round and publish the status.
#include "confirmer.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "logging.h"
#include "on_resolver_thread.h"

namespace stsd::confirm {

namespace asio = boost::asio;

asio::awaitable<void> ConfirmEngine::run_round(std::string domain) {
  auto runtime_now = runtime();
  std::optional<store::DomainStatus> status = read_status(domain);
  std::shared_ptr<Versions> versions = status ? versions_of(domain, *status) : nullptr;
  if (!versions || (!versions->pending && !versions->confirmed)) {
    // Nothing to probe; a stage wakes the domain (take_changes).
    finish_round(domain, now_ms() + runtime_now->settings.drift_interval.count() * 1000);
    co_return;
  }

  std::vector<VantageMemo> seen;
  if (auto* entry = table_.find(domain)) seen = entry->second.vantages;
  auto probing = probe_round(runtime_now, versions, status->settings.vantages, std::move(seen));
  RoundInput input = co_await std::move(probing);
  note_round_finished(input);

  auto* entry = table_.find(domain);
  if (!entry || !entry->second.in_flight || !running_) co_return;
  Trouble& trouble = trouble_of(*entry, runtime_now->settings);
  RoundVerdict verdict = trouble.tracker.record(input);
  Evidence evidence = judge_evidence(input);
  try {
    apply_verdict(domain, trouble, *status, verdict, input, evidence);
  } catch (const std::exception& e) {
    log::warn("confirm: " + domain + ": " + e.what());
  }
  // Where the id stands after this round's evidence decides when the next round is due.
  std::shared_ptr<const store::ServedDomain> after;
  try {
    after = state_->served(domain);
  } catch (const std::exception& e) {
    log::warn("confirm: " + domain + ": cannot read its state: " + e.what());
  }
  const RotationState rotation = after ? rotation_state(after->rotation_hash, after->rotate_until) : RotationState{};
  publish_round(*entry, rotation, verdict, input, evidence);
  finish_round(domain, next_due_ms(after && after->confirmed, rotation, input, verdict, runtime_now->settings));
}

Trouble& ConfirmEngine::trouble_of(WatchTable::Entry& entry, const ConfirmSettings& settings) {
  // A domain whose last round was clean has no Trouble (watch_table.h); a fresh one has
  // a fresh tracker, which is what a clean history amounts to.
  if (!entry.second.trouble)
    table_.update(entry, [&](Watch& watch) { watch.trouble = std::make_unique<Trouble>(tracker_settings(settings)); });
  return *entry.second.trouble;
}

std::optional<store::DomainStatus> ConfirmEngine::read_status(const std::string& domain) const {
  try {
    return state_->status(domain, store::unix_seconds(now()));
  } catch (const std::exception& e) {
    log::warn("confirm: " + domain + ": cannot read its state: " + e.what());
  }
  return std::nullopt;
}

std::shared_ptr<ConfirmEngine::Versions> ConfirmEngine::versions_of(const std::string& domain,
                                                                    const store::DomainStatus& status) {
  auto versions = std::make_shared<Versions>();
  versions->domain = domain;
  versions->staged = status.staged;
  versions->confirmed = status.confirmed;
  versions->pending = status.staged && (!status.confirmed || status.staged->number > status.confirmed->number);
  return versions;
}

asio::awaitable<RoundInput> ConfirmEngine::probe_round(std::shared_ptr<const Runtime> runtime,
                                                       std::shared_ptr<const Versions> versions,
                                                       std::vector<std::string> domain_vantages,
                                                       std::vector<VantageMemo> seen) {
  RoundInput input;
  input.started = now();
  if (versions->pending) input.pending = versions->staged->number;
  if (versions->confirmed) input.confirmed = versions->confirmed->number;
  try {
    auto planning = plan_vantages(runtime, versions->domain, domain_vantages);
    VantagePlan plan = co_await std::move(planning);
    input.setup_error = plan.setup_error;
    for (auto& target : plan.targets)
      for (const auto& memo : seen)
        if (memo.etag_version != 0 && memo.vantage() == target.vantage) {
          target.if_none_match = memo.etag;
          target.etag_version = memo.etag_version;
        }
    if (!plan.setup_error) {
      auto probing = probe_all(runtime, versions, plan.targets);
      input.outcomes = co_await std::move(probing);
    }
  } catch (const std::exception& e) {
    input.setup_error = std::string("probe round failed: ") + e.what();
  }
  input.at = now();
  co_return input;
}

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
    co_await gather->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::move(gather->results);
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
                           std::chrono::duration_cast<std::chrono::milliseconds>(runtime->settings.timeout),
                           target.if_none_match};
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

void ConfirmEngine::note_round_finished(const RoundInput& input) {
  count_probes(input.outcomes, input.pending.has_value());
  last_round_unix_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(input.at.time_since_epoch()).count(),
                            std::memory_order_relaxed);
}

std::chrono::seconds ConfirmEngine::next_round_delay(const RoundInput& input, const RoundVerdict& verdict) {
  // The plain interval keeps its rhythm (the soak is measured against it); backoff and
  // the long drift interval get jitter.
  const bool plain = input.pending && !verdict.failed && !verdict.confirm;
  return plain ? verdict.next_delay : jittered(verdict.next_delay);
}

void ConfirmEngine::finish_round(const std::string& domain, int64_t due_ms) {
  if (auto* entry = table_.find(domain)) table_.finish(*entry, due_ms, now_ms());
  wake_.cancel();  // a round slot is free
}

}  // namespace stsd::confirm
