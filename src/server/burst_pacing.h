#pragma once
// Whether a UDP thread's next wait in the kernel asks for a burst (udp.burst_datagrams N
// or udp.burst_wait_us, whichever first) or returns at the first datagram. A burst wait
// saves a wake-up per query only when queries come fast enough to fill bursts; at a
// moderate rate it ends at its deadline with a few queries in, and each of them waited for
// nothing: at 30,000 queries a second, 0.18 ms on average against Knot's 0.06 (bench/results/
// 2026-11-30-issue15-after-revert.md). So bursts are waited for only while they fill:
// kShortWaitsToStop burst waits in a row that end with fewer than a quarter of N in (at
// their deadline) turn them off (one alone does not: a saturated thread has such a wait
// now and then), and every kProbeEvery-th wait after that is a burst wait again, which
// turns them back on when it gathers half of N or more (a busy thread's queries pile up in
// the socket while it answers, so a probe finds them at once; at a moderate rate, clumps
// of a quarter came now and then and turned bursts on for nothing).
namespace stsd {

class BurstPacing {
 public:
  static constexpr unsigned kProbeEvery = 1024;
  static constexpr unsigned kShortWaitsToStop = 4;

  // `datagrams` 1 (or no wait): every wait returns at the first datagram.
  BurstPacing(unsigned datagrams, bool has_wait) : datagrams_(has_wait ? datagrams : 1) {}

  // Whether the next wait asks for a burst.
  bool wait_for_burst() {
    if (datagrams_ <= 1) return false;
    if (bursting_) return true;
    if (++since_probe_ < kProbeEvery) return false;
    since_probe_ = 0;
    return true;
  }
  // A burst wait ended with `ready` completions in (N of them, or fewer at its deadline:
  // the kernel reports a deadline that passed with completions in as a success).
  void burst_wait_ended(unsigned ready) {
    if (bursting_ ? ready * 4 >= datagrams_ : ready * 2 >= datagrams_) {
      bursting_ = true;
      short_waits_ = 0;
    } else if (!bursting_ || ++short_waits_ >= kShortWaitsToStop) {
      bursting_ = false;
      short_waits_ = 0;
    }
  }

  bool bursting() const { return bursting_ && datagrams_ > 1; }

 private:
  unsigned datagrams_;
  bool bursting_ = true;
  unsigned since_probe_ = 0;
  unsigned short_waits_ = 0;  // in a row
};

}  // namespace stsd
