// Scheduling: which domains are watched (every domain of the store), when each one's
// next round is due, and starting the rounds that are due.
//
// Due times are on the process clock (env.clock(), which the test clock moves), because
// the moment that matters is a point of the domain's rotation schedule. A round is due:
//   - for a pending version: every `interval` (backoff after failures);
//   - for a confirmed version: every `drift_interval`, and at next_rotation -
//     verify_window / 2 unless fresh evidence already covers the next rotation; while
//     the evidence is missing (that round failed, or the id is held), every `interval`
//     with backoff until it is good (README "Verified id changes").
// The due heap (watch_table.h) makes starting the due rounds cost O(due), not O(domains).
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
using std::chrono::seconds;

namespace {

constexpr auto kTick = seconds(1);
// The store's domain list is walked one page per tick, so a million domains cost no pause
// (changes arrive at once through subscribe(); the walk only catches what it missed).
constexpr size_t kResyncPage = 1000;
constexpr auto kResyncPause = seconds(60);  // between two walks of the whole list

int64_t to_ms(seconds s) { return static_cast<int64_t>(s.count()) * 1000; }

}  // namespace

int64_t ConfirmEngine::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now().time_since_epoch()).count();
}

asio::awaitable<void> ConfirmEngine::scheduler() {
  while (running_) {
    // A store read that fails (I/O error, corrupt record) skips this tick, loudly; the
    // prober keeps running and tries again rather than stopping for good.
    try {
      resync_page();
      take_changes();
      start_due_rounds();
    } catch (const std::exception& e) {
      log::error(std::string("confirm: scheduling failed (retrying): ") + e.what());
    }
    boost::system::error_code ec;
    wake_.expires_after(kTick);
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void ConfirmEngine::resync_page() {
  const auto now_steady = std::chrono::steady_clock::now();
  if (now_steady < next_resync_page_) return;
  std::vector<std::string> names;
  try {
    names = state_->domains(resync_after_, kResyncPage);
  } catch (const std::exception& e) {
    log::warn(std::string("confirm: cannot list domains: ") + e.what());
    next_resync_page_ = now_steady + kTick;
    return;
  }
  const bool to_end = names.size() < kResyncPage;
  for (const auto& domain : table_.reconcile(resync_after_, names, to_end))
    if (auto served = state_->served(domain)) start_watching(domain, *served);
  resync_after_ = to_end ? std::string() : names.back();
  next_resync_page_ = now_steady + (to_end ? kResyncPause : kTick);
}

void ConfirmEngine::start_watching(const std::string& domain, const store::ServedDomain& served) {
  const auto& settings = runtime()->settings;
  const int64_t now = now_ms();
  int64_t due = now;
  if (served.confirmed && !is_pending(served) && !served.held_since) {
    // Nothing waits: spread the first rounds over the drift interval (a restart with a
    // million domains must not probe them all at once), but never past the verification
    // before the next rotation.
    const RotationState rotation = rotation_state(served.rotation_hash, served.rotate_until);
    if (!rotation.held) {
      std::uniform_int_distribution<int64_t> spread(0, to_ms(settings.drift_interval));
      due = std::min(now + spread(random_), verification_due_ms(rotation, settings));
    }
  } else if (!served.confirmed && !served.staged) {
    due = now + to_ms(settings.drift_interval);  // nothing to probe; a stage wakes it
  }
  auto [entry, added] = table_.add(domain, due);
  if (added) remember_versions(entry->second, served);
}

bool ConfirmEngine::is_pending(const store::ServedDomain& served) {
  return served.staged && (!served.confirmed || served.staged->number > served.confirmed->number);
}

void ConfirmEngine::remember_versions(Watch& watch, const store::ServedDomain& served) {
  watch.seen_staged = served.staged ? served.staged->number : 0;
  watch.seen_confirmed = served.confirmed ? served.confirmed->number : 0;
  watch.seen_settings = served.settings_changed_at;
}

void ConfirmEngine::take_changes() {
  std::set<std::string> changed;
  {
    std::lock_guard lock(changes_mutex_);
    changed.swap(changed_);
  }
  for (const auto& domain : changed) {
    auto served = state_->served(domain);
    if (!served) {
      table_.remove(domain);
      continue;
    }
    auto* entry = table_.find(domain);
    if (!entry) {
      start_watching(domain, *served);
      continue;
    }
    // A new stage, a confirmation or new settings (vantages): probe at once. The
    // confirmer's own evidence and holds change none of these.
    Watch& watch = entry->second;
    const uint32_t staged = served->staged ? served->staged->number : 0;
    const uint32_t confirmed = served->confirmed ? served->confirmed->number : 0;
    if (staged != watch.seen_staged || confirmed != watch.seen_confirmed ||
        served->settings_changed_at != watch.seen_settings)
      table_.schedule(*entry, now_ms());
    remember_versions(watch, *served);
  }
}

void ConfirmEngine::start_due_rounds() {
  if (paused_) return;
  // A round probes a few vantages; keeping at most `max_concurrent_probes` rounds in
  // flight bounds memory however many domains are due at once.
  const size_t max_rounds = runtime()->settings.max_concurrent_probes;
  if (table_.in_flight() >= max_rounds) return;
  for (auto* entry : table_.take_due(now_ms(), max_rounds - table_.in_flight()))
    asio::co_spawn(io_, run_round(entry->first), asio::detached);
}

ConfirmEngine::RotationState ConfirmEngine::rotation_state(uint32_t hash, std::optional<int64_t> rotate_until) const {
  const store::RotationSchedule schedule = state_->schedule();
  const store::Period current = store::period_at(store::unix_seconds(now()), hash, schedule);
  RotationState state;
  state.next_boundary = current.end;
  state.offset = store::rotation_offset(hash, schedule.rotation);
  state.needs_evidence_at = current.end;
  if (!rotate_until) return state;  // ungated: no verifier has been involved yet
  // The id may enter the periods that start by `rotate_until`, no later one.
  const store::Period last_allowed = store::period_at(*rotate_until, hash, schedule);
  state.held = last_allowed.start < current.start;
  state.held_since = last_allowed.end;
  state.needs_evidence_at = std::max(current.end, last_allowed.end);
  return state;
}

int64_t ConfirmEngine::verification_due_ms(const RotationState& rotation, const ConfirmSettings& settings) {
  return rotation.needs_evidence_at * 1000 - to_ms(settings.verify_window) / 2;
}

int64_t ConfirmEngine::next_due_ms(bool confirmed, const RotationState& rotation, const RoundInput& input,
                                   const RoundVerdict& verdict, const ConfirmSettings& settings) {
  const int64_t now = now_ms();
  const int64_t due = now + to_ms(next_round_delay(input, verdict));
  if (!confirmed) return due;
  // Evidence is missing while it matters: try again soon (with backoff when failing).
  const bool troubled = verdict.failed || verdict.drift || input.pending.has_value();
  const int64_t retry = now + to_ms(jittered(troubled ? verdict.next_delay : settings.interval));
  if (rotation.held) return std::min(due, retry);
  const int64_t verify_at = verification_due_ms(rotation, settings);
  return std::min(due, verify_at <= now ? retry : verify_at);
}

std::chrono::seconds ConfirmEngine::jittered(std::chrono::seconds delay) {
  // ±20% so that domains failing together (one CDN outage) do not retry in lockstep.
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  auto result = std::chrono::seconds(static_cast<int64_t>(static_cast<double>(delay.count()) * factor(random_) + 0.5));
  return std::max(result, std::chrono::seconds(1));
}

}  // namespace stsd::confirm
