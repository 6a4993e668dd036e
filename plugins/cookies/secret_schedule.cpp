#include "secret_schedule.h"

#include <atomic>

namespace stsd::cookies {
namespace {

uint64_t next_schedule_id() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

// The last secrets this thread derived. Trivially constructible, so the thread-local
// needs no initialisation guard and no destructor registration.
struct DerivedSecrets {
  uint64_t schedule_id;
  int64_t period;
  Secrets secrets;
};

}  // namespace

SecretSchedule SecretSchedule::fixed(SipKey first, const SipKey* second) {
  SecretSchedule schedule;
  schedule.fixed_.current = first;
  if (second) {
    schedule.fixed_.previous = *second;
    schedule.fixed_.has_previous = true;
  }
  schedule.id_ = next_schedule_id();
  return schedule;
}

SecretSchedule SecretSchedule::rotating(SipKey master, std::chrono::seconds lifetime) {
  SecretSchedule schedule;
  schedule.master_ = master;
  schedule.lifetime_ = lifetime.count() > 0 ? lifetime.count() : 1;
  schedule.id_ = next_schedule_id();
  return schedule;
}

int64_t SecretSchedule::period_of(Clock::time_point now) const {
  const int64_t seconds = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  const int64_t period = seconds / lifetime_;
  return seconds < 0 && seconds % lifetime_ != 0 ? period - 1 : period;  // floor, also before 1970
}

SipKey SecretSchedule::period_secret(int64_t period) const {
  // Each half of the 128-bit secret is SipHash(master, period | half): a PRF of the
  // period, so secrets of different periods are unrelated for whoever lacks the master.
  uint8_t message[9];
  store_le64(static_cast<uint64_t>(period), std::span<uint8_t, 8>(message, 8));
  message[8] = 0;
  const uint64_t k0 = siphash24(master_, message);
  message[8] = 1;
  const uint64_t k1 = siphash24(master_, message);
  return SipKey{k0, k1};
}

Secrets SecretSchedule::at(Clock::time_point now) const {
  if (!rotates()) return fixed_;
  thread_local DerivedSecrets cache{};
  const int64_t period = period_of(now);
  if (cache.schedule_id != id_ || cache.period != period) {
    cache.schedule_id = id_;
    cache.period = period;
    cache.secrets = Secrets{period_secret(period), period_secret(period - 1), true};
  }
  return cache.secrets;
}

}  // namespace stsd::cookies
