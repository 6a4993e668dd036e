// Scheduling: which domains are watched (every domain of the store), when each one's
// next round is due, and starting the rounds that are due.
#include "confirmer.h"

#include <algorithm>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "logging.h"

namespace stsd::confirm {

namespace asio = boost::asio;

namespace {

constexpr auto kTick = std::chrono::seconds(1);
constexpr auto kResyncEvery = std::chrono::seconds(60);

}  // namespace

asio::awaitable<void> ConfirmEngine::scheduler() {
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
      start_due_rounds(now_steady);
    } catch (const std::exception& e) {
      log::error(std::string("confirm: scheduling failed (retrying): ") + e.what());
    }
    boost::system::error_code ec;
    wake_.expires_after(kTick);
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

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
      status_board_.forget(it->first);
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
        status_board_.forget(domain);
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

void ConfirmEngine::start_due_rounds(SteadyTime now_steady) {
  size_t rounds_in_flight = 0;
  for (const auto& [domain, watch] : watches_) rounds_in_flight += watch.in_flight;
  if (paused_) return;
  // A round probes a few vantages; keeping at most `max_concurrent_probes` rounds in
  // flight bounds memory however many domains are due at once.
  const size_t max_rounds = runtime()->settings.max_concurrent_probes;
  for (auto& [domain, watch] : watches_) {
    if (rounds_in_flight >= max_rounds) break;
    if (watch.in_flight || watch.due > now_steady) continue;
    auto served = state_->served(domain);
    if (!served || (!served->staged && !served->confirmed)) {
      watch.due = now_steady + runtime()->settings.interval;  // nothing to probe yet
      continue;
    }
    watch.in_flight = true;
    ++rounds_in_flight;
    asio::co_spawn(io_, run_round(domain), asio::detached);
  }
}

std::chrono::seconds ConfirmEngine::jittered(std::chrono::seconds delay) {
  // ±20% so that domains failing together (one CDN outage) do not retry in lockstep.
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  auto result = std::chrono::seconds(static_cast<int64_t>(static_cast<double>(delay.count()) * factor(random_) + 0.5));
  return std::max(result, std::chrono::seconds(1));
}

}  // namespace stsd::confirm
