#include "watch_table.h"

#include <algorithm>

namespace stsd::confirm {

// The per-domain figures in the header's comment (x86-64, libstdc++).
static_assert(sizeof(void*) != 8 || sizeof(VantageMemo) == 72, "update the bytes per domain in watch_table.h");
static_assert(sizeof(void*) != 8 || sizeof(Watch) == 72, "update the bytes per domain in watch_table.h");

namespace {

// Earliest due time on top of the heap.
template <class Due>
bool later(const Due& a, const Due& b) {
  return a.due_ms > b.due_ms;
}

}  // namespace

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::Pending:
      return "pending";
    case Phase::Confirmed:
      return "confirmed";
    case Phase::Watching:
      return "watching";
    case Phase::Held:
      return "held";
    case Phase::Drift:
      return "drift";
    case Phase::DriftOverridden:
      return "drift-overridden";
  }
  return "unknown";
}

VantageMemo VantageMemo::of(const Vantage& vantage, bool configured) {
  VantageMemo memo;
  memo.port = vantage.port;
  memo.configured = configured;
  memo.v6 = vantage.address.is_v6();
  if (memo.v6) {
    const auto bytes = vantage.address.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), memo.address.begin());
  } else {
    const auto bytes = vantage.address.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), memo.address.begin());
  }
  return memo;
}

Vantage VantageMemo::vantage() const {
  namespace ip = boost::asio::ip;
  if (v6) {
    ip::address_v6::bytes_type bytes;
    std::copy(address.begin(), address.end(), bytes.begin());
    return {ip::address(ip::address_v6(bytes)), port};
  }
  ip::address_v4::bytes_type bytes;
  std::copy(address.begin(), address.begin() + 4, bytes.begin());
  return {ip::address(ip::address_v4(bytes)), port};
}

std::string VantageMemo::label() const { return (configured ? "edge " : "address ") + vantage().to_string(); }

WatchTable::Entry* WatchTable::find(std::string_view domain) {
  auto it = watches_.find(domain);
  return it == watches_.end() || it->second.removed ? nullptr : &*it;
}

std::pair<WatchTable::Entry*, bool> WatchTable::add(const std::string& domain, int64_t due_ms) {
  Entry* entry = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = watches_.try_emplace(domain);
    entry = &*it;
    if (!inserted && !it->second.removed) return {entry, false};
    if (!inserted) {
      // Removed and added again while old heap entries still point here: start afresh.
      --removed_;
      Watch fresh;
      fresh.queued = it->second.queued;
      it->second = std::move(fresh);
    }
  }
  schedule(*entry, due_ms);
  return {entry, true};
}

void WatchTable::remove(std::string_view domain) {
  std::lock_guard lock(mutex_);
  auto it = watches_.find(domain);
  if (it == watches_.end() || it->second.removed) return;
  Watch& watch = it->second;
  count(watch, -1);
  drift_held_.erase(it->first);
  rotation_held_.erase(it->first);
  if (watch.in_flight) --in_flight_;
  watch.removed = true;
  watch.in_flight = false;
  watch.trouble.reset();
  std::vector<VantageMemo>().swap(watch.vantages);
  ++removed_;
  erase_if_unreferenced(*it);
}

void WatchTable::erase_if_unreferenced(Entry& entry) {
  if (!entry.second.removed || entry.second.queued != 0) return;
  --removed_;
  watches_.erase(entry.first);
}

void WatchTable::push(Entry& entry) {
  heap_.push_back({entry.second.due_ms, &entry});
  std::push_heap(heap_.begin(), heap_.end(), later<Due>);
  ++entry.second.queued;
  compact_heap();
}

void WatchTable::schedule(Entry& entry, int64_t due_ms) {
  Watch& watch = entry.second;
  if (watch.in_flight) {
    // finish() schedules it; a change during the round makes that "at once".
    watch.changed_in_flight = true;
    return;
  }
  if (watch.queued != 0 && watch.due_ms == due_ms) return;
  {
    std::lock_guard lock(mutex_);  // readers show due_ms as the next round
    watch.due_ms = due_ms;
  }
  push(entry);
}

std::vector<WatchTable::Entry*> WatchTable::take_due(int64_t now_ms, size_t limit) {
  std::vector<Entry*> due;
  while (!heap_.empty() && heap_.front().due_ms <= now_ms && due.size() < limit) {
    std::pop_heap(heap_.begin(), heap_.end(), later<Due>);
    const Due top = heap_.back();
    heap_.pop_back();
    Watch& watch = top.entry->second;
    --watch.queued;
    if (watch.removed) {
      std::lock_guard lock(mutex_);
      erase_if_unreferenced(*top.entry);
      continue;
    }
    if (watch.in_flight || watch.due_ms != top.due_ms) continue;  // stale entry
    watch.in_flight = true;
    watch.changed_in_flight = false;
    ++in_flight_;
    due.push_back(top.entry);
  }
  return due;
}

void WatchTable::finish(Entry& entry, int64_t due_ms, int64_t now_ms) {
  Watch& watch = entry.second;
  if (!watch.in_flight) return;
  watch.in_flight = false;
  --in_flight_;
  schedule(entry, watch.changed_in_flight ? now_ms : due_ms);
  watch.changed_in_flight = false;
}

std::vector<std::string> WatchTable::reconcile(std::string_view after, const std::vector<std::string>& names,
                                               bool to_end) {
  std::vector<std::string> missing;
  std::vector<std::string> gone;
  auto it = watches_.upper_bound(after);
  auto name = names.begin();
  // Both sides are sorted: walk them together up to the end of the page.
  while (it != watches_.end() && (to_end || (!names.empty() && it->first <= names.back()))) {
    while (name != names.end() && *name < it->first) missing.push_back(*name++);
    if (name != names.end() && *name == it->first) {
      if (it->second.removed) missing.push_back(*name);
      ++name;
    } else if (!it->second.removed) {
      gone.push_back(it->first);
    }
    ++it;
  }
  while (name != names.end()) missing.push_back(*name++);
  for (const auto& domain : gone) remove(domain);
  return missing;
}

void WatchTable::compact_heap() {
  // Stale entries pile up only when many watches are rescheduled before their entries
  // come up; rebuild from the watches when they outnumber the watches.
  if (heap_.size() < 1024 || heap_.size() < 2 * watches_.size()) return;
  std::lock_guard lock(mutex_);
  heap_.clear();
  for (auto it = watches_.begin(); it != watches_.end();) {
    Watch& watch = it->second;
    watch.queued = 0;
    if (watch.removed) {
      --removed_;
      it = watches_.erase(it);
      continue;
    }
    if (!watch.in_flight) {
      heap_.push_back({watch.due_ms, &*it});
      watch.queued = 1;
    }
    ++it;
  }
  std::make_heap(heap_.begin(), heap_.end(), later<Due>);
}

void WatchTable::count(const Watch& watch, int delta) {
  // Only probed domains are counted (README "Metrics").
  if (watch.last_round_ms == 0 || watch.removed) return;
  phase_counts_[static_cast<size_t>(watch.phase)] += static_cast<size_t>(delta);
  failing_count_ += watch.failing ? static_cast<size_t>(delta) : 0;
}

void WatchTable::set_rotation_held(const std::string& domain, std::optional<HeldRotation> held) {
  std::lock_guard lock(mutex_);
  if (held)
    rotation_held_.insert_or_assign(domain, std::move(*held));
  else
    rotation_held_.erase(domain);
}

void WatchTable::set_drift_held(const std::string& domain, bool held) {
  std::lock_guard lock(mutex_);
  if (held)
    drift_held_.insert(domain);
  else
    drift_held_.erase(domain);
}

std::optional<HeldRotation> WatchTable::rotation_held(std::string_view domain) const {
  std::lock_guard lock(mutex_);
  auto it = rotation_held_.find(domain);
  if (it == rotation_held_.end()) return std::nullopt;
  return it->second;
}

void WatchTable::write_metrics(metrics::MetricsWriter& writer) const {
  std::array<size_t, kPhaseCount> counts{};
  size_t failing = 0, rotation_held_total = 0;
  std::vector<std::string> drift_held;
  std::vector<std::pair<std::string, HeldRotation>> rotation_held;
  {
    std::lock_guard lock(mutex_);
    counts = phase_counts_;
    failing = failing_count_;
    for (const auto& domain : drift_held_) {
      if (drift_held.size() == kMaxListed) break;
      drift_held.push_back(domain);
    }
    rotation_held_total = rotation_held_.size();
    for (const auto& held : rotation_held_) {
      if (rotation_held.size() == kMaxListed) break;
      rotation_held.push_back(held);
    }
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
  static constexpr const char* kDriftHelp =
      "1 for each domain whose id rotation is held because a vantage serves neither the confirmed nor the staged "
      "policy (drift); domains not held are not listed (at most 1000).";
  writer.declare("stsd_confirm_drift_held", kDriftHelp, metrics::Type::Gauge);
  for (const auto& domain : drift_held) writer.gauge("stsd_confirm_drift_held", kDriftHelp, {{"domain", domain}}, 1);
  static constexpr const char* kRotationHelp =
      "1 for each domain whose id is held behind the current period for lack of evidence, with the first vantage "
      "that did not serve the confirmed version and why; domains not held are not listed (at most 1000).";
  writer.declare("stsd_confirm_rotation_held", kRotationHelp, metrics::Type::Gauge);
  for (const auto& [domain, held] : rotation_held)
    writer.gauge("stsd_confirm_rotation_held", kRotationHelp,
                 {{"domain", domain}, {"vantage", held.vantage}, {"reason", held.reason}}, 1);
  writer.gauge("stsd_confirm_rotation_held_domains",
               "Domains whose id is held behind the current period for lack of evidence (all of them).", {},
               static_cast<double>(rotation_held_total));
}

}  // namespace stsd::confirm
