#pragma once
// What the rrl tests share: a plugin behind rrl that gives each kind of answer by the
// query name's first label, and a runner that serves a query at a chosen steady-clock
// time (the limiter reads only Request::received) and reports whether the answer was
// sent, truncated, and with which rcode.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/writer.h"
#include "plugin.h"
#include "plugin_test_support.h"

namespace stsd::rrl_test {

// First label → answer:
//   www, proven  NOERROR AA with an A record (positive); `proven` also marks the query as
//                from a client with a valid server cookie, as the cookies plugin does
//   nodata       NOERROR AA, no records (NODATA)
//   nx*          NXDOMAIN AA
//   sub          NOERROR without AA, NS in authority (a referral)
//   fail         SERVFAIL
//   drop         NXDOMAIN, dropped (as an ACL that drops would)
//   anything else: nobody answers (REFUSED from the core)
class Answerer final : public Plugin {
 public:
  std::string_view name() const override { return "answerer"; }
  void serve(Query& query, Next next) const override;
};

struct Outcome {
  bool sent = false;
  bool truncated = false;  // TC=1
  dns::Rcode rcode = dns::Rcode::NoError;
  uint16_t answers = 0;
  uint16_t authority = 0;
  bool full() const { return sent && !truncated; }
};

// Serves queries through [plugin, Answerer] as a worker does.
class Runner {
 public:
  explicit Runner(Plugin& plugin);
  // `at`: the query's arrival on the steady clock.
  Outcome run(const test::QuerySpec& spec, std::chrono::steady_clock::time_point at);

 private:
  std::unique_ptr<Chain> chain_;
  std::vector<uint8_t> buffer_;
  dns::ResponseWriter writer_;
};

// A steady-clock time well inside a whole second, so that tests can add less than
// half a second and stay in it.
std::chrono::steady_clock::time_point second_start(int64_t second);

}  // namespace stsd::rrl_test
