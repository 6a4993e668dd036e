#pragma once
// Which server secrets make and accept cookies at a given time (RFC 9018 §5 asks for a
// rotation with an overlap in which the previous secret is still accepted).
#include <chrono>
#include <cstdint>

#include "clock.h"
#include "server_cookie.h"

namespace stsd::cookies {

class SecretSchedule {
 public:
  // Secrets from the config: the first makes cookies, the second (when given) is still
  // accepted. The operator rotates them (RFC 9018 §5: add the new one second, reload,
  // swap, reload, drop the old one).
  static SecretSchedule fixed(SipKey first, const SipKey* second);

  // A secret per period of `lifetime`, derived from `master`: the secret of period n
  // makes cookies during period n and is still accepted during period n + 1. Periods
  // count from the Unix epoch, so every plugin built from the same master (every server
  // block, every reload) agrees on them.
  static SecretSchedule rotating(SipKey master, std::chrono::seconds lifetime);

  // The query path: no lock, no allocation. The rotating schedule derives the secrets of
  // a period once per thread (a thread-local cache) instead of publishing them.
  Secrets at(Clock::time_point now) const;

  bool rotates() const { return lifetime_ > 0; }
  // The secrets of period `period` (rotating schedules; exposed for tests).
  SipKey period_secret(int64_t period) const;
  int64_t period_of(Clock::time_point now) const;

 private:
  SecretSchedule() = default;

  Secrets fixed_{};       // the fixed schedule
  SipKey master_{};       // the rotating schedule
  int64_t lifetime_ = 0;  // seconds; 0: fixed
  uint64_t id_ = 0;       // never reused: keys the thread-local cache
};

}  // namespace stsd::cookies
