#include "store/time_floor.h"

#include <algorithm>
#include <charconv>

namespace stsd::store {

namespace {

bool parse_int64(std::string_view text, int64_t& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string TimeFloor::encode(const Lease& lease) {
  return std::to_string(lease.seen) + " " + std::to_string(lease.until);
}

std::optional<TimeFloor::Lease> TimeFloor::decode(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  Lease lease;
  if (!parse_int64(text.substr(0, space), lease.seen) || !parse_int64(text.substr(space + 1), lease.until) ||
      lease.seen > lease.until)
    return std::nullopt;
  return lease;
}

TimeFloor::TimeFloor(Lease saved) noexcept
    : start_floor_(saved.until), floor_(saved.until), lease_until_(saved.until), highest_seen_(saved.seen) {}

std::optional<TimeFloor::Lease> TimeFloor::renewal(int64_t wall) const noexcept {
  // Due when the clock nears the lease, or when a time beyond it was used already (the
  // watch was late). A clock held behind the floor needs no renewal: the time used stays
  // at the floor, which the lease covers, so restarts do not push the lease ever further.
  const int64_t used = floor();
  if (wall + kRenewWithin <= lease_until() && used <= lease_until()) return std::nullopt;
  const int64_t seen = std::max(wall, highest_seen_.load(std::memory_order_relaxed));
  return Lease{seen, std::max(wall, used) + kLeaseAhead};
}

TimeFloor::Observation TimeFloor::observe(int64_t wall) noexcept {
  int64_t highest = std::max(highest_seen_.load(std::memory_order_relaxed), wall);
  // Above the lease it started from, the floor is a clock reading the DNS path used (and
  // the watch may not have seen: it looks once a second).
  if (const int64_t used = floor(); used > start_floor_) highest = std::max(highest, used);
  highest_seen_.store(highest, std::memory_order_relaxed);
  Observation seen;
  seen.behind = highest - wall > kStepTolerance ? highest - wall : 0;
  const int64_t before = behind_.exchange(seen.behind, std::memory_order_relaxed);
  seen.step_started = seen.behind > 0 && before == 0;
  if (seen.step_started) steps_back_.fetch_add(1, std::memory_order_relaxed);
  return seen;
}

}  // namespace stsd::store
