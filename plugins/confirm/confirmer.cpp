// The engine's set-up and lifecycle: the objects built from the settings, the prober
// thread and its start, stop and reload.
#include "confirmer.h"

#include <algorithm>
#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "logging.h"

namespace stsd::confirm {

namespace asio = boost::asio;
using std::chrono::seconds;

ConfirmEngine::ConfirmEngine(ConfirmSettings settings, std::shared_ptr<Clock> clock,
                             std::shared_ptr<const zone::TransferLag> transfer_lag)
    : clock_(std::move(clock)), transfer_lag_(std::move(transfer_lag)), runtime_(prepare(std::move(settings))) {
  limiter_.set_capacity(runtime_->settings.max_concurrent_probes);
}

ConfirmEngine::~ConfirmEngine() { stop(); }

std::shared_ptr<const ConfirmEngine::Runtime> ConfirmEngine::prepare(ConfirmSettings settings) {
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
  subscribe_to_changes();
  work_.emplace(io_.get_executor());
  // Every id change needs evidence from now on (README "Verified id changes"), including
  // those of domains confirmed before the confirmer ran.
  state_->set_rotation_evidence_required(true);
  state_->gate_ungated_rotations();
  asio::co_spawn(io_, scheduler(), asio::detached);
  run_io_thread();
  auto settings = runtime()->settings;
  log::f(log::Level::Info,
         "confirm: probing pending policies every %llds (%u rounds over at least %llds), drift every %llds",
         static_cast<long long>(settings.interval.count()), settings.probes,
         static_cast<long long>(settings.soak.count()), static_cast<long long>(settings.drift_interval.count()));
}

void ConfirmEngine::subscribe_to_changes() {
  // Changes (stage, confirm, settings) wake the scheduler at once instead of at the next
  // tick; the callback runs on the writer's thread, so it only records and posts.
  subscription_ = state_->subscribe([this](const std::string& domain) {
    {
      std::lock_guard lock(changes_mutex_);
      changed_.insert(domain);
    }
    asio::post(io_, [this] { wake_.cancel(); });
  });
}

void ConfirmEngine::run_io_thread() {
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      log::error(std::string("confirm: prober stopped after an unexpected error: ") + e.what());
    }
  });
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

void ConfirmEngine::reload(std::shared_ptr<const Runtime> fresh) {
  if (!fresh) {
    paused_ = true;
    log::info("confirm: section removed; probing paused");
    return;
  }
  {
    std::lock_guard lock(runtime_mutex_);
    runtime_ = fresh;
  }
  paused_ = false;
  asio::post(io_, [this, fresh] {
    limiter_.set_capacity(fresh->settings.max_concurrent_probes);
    // Domains with a pending version or a problem take the new settings at once; the
    // others at their next round (moving a million drift rounds forward would be a storm).
    const int64_t soon = now_ms() + fresh->settings.interval.count() * 1000;
    table_.for_each([&](WatchTable::Entry& entry) {
      Watch& watch = entry.second;
      if (!watch.trouble) return;
      watch.trouble->tracker.update_settings(tracker_settings(fresh->settings));
      if (watch.due_ms > soon) table_.schedule(entry, soon);
    });
    wake_.cancel();
  });
}

}  // namespace stsd::confirm
