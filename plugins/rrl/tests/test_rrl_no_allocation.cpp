// The rrl plugin on the query path allocates nothing: answers that pass (every class, a
// long name in the key, IPv4 and IPv6, TCP, an exempt prefix, a proven client) and
// answers over the rate (dropped, slipped, log_only), with a counting operator new that
// must stay at zero. Only a bucket's first answer over the rate in a second logs (and
// builds its line); the answers after it are measured.
#include <gtest/gtest.h>

#include "allocation_counter.h"

#include <chrono>
#include <string>
#include <vector>

#include "environment.h"
#include "plugin_test_support.h"
#include "rrl_plugin.h"
#include "rrl_test_support.h"

using namespace stsd;

namespace {

class PathProbe {
 public:
  explicit PathProbe(const std::string& yaml) {
    const auto node = test::yaml_node(yaml, "servers[0].plugins.rrl");
    auto setup = fixture_.setup(node);
    std::vector<std::unique_ptr<Plugin>> plugins;
    plugins.push_back(rrl::make_rrl_plugin(setup));
    plugins.push_back(std::make_unique<rrl_test::Answerer>());
    chain_ = std::make_unique<Chain>(std::move(plugins));
  }

  // Serves one query at `at`; returns the allocations it made, and whether it was sent.
  size_t serve(const test::QuerySpec& spec, std::chrono::steady_clock::time_point at, bool* sent = nullptr) {
    const auto packet = test::query_packet(spec);
    dns::Request request;
    EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
    request.transport = spec.transport;
    request.client = boost::asio::ip::make_address(spec.client);
    request.received = at;
    writer_.begin(request, request.max_response_size());
    Query query{request, writer_};
    const size_t count = test::allocations_during([&] {
      chain_->serve(query);
      writer_.finish();
    });
    if (sent) *sent = !writer_.dropped();
    return count;
  }

 private:
  test::SetupFixture fixture_;
  std::unique_ptr<Chain> chain_;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer_{buffer_};
};

TEST(RrlQueryPath, TheCounterCounts) {
  std::vector<int>* probe = nullptr;
  EXPECT_EQ(test::allocations_during([&] { probe = new std::vector<int>(16); }), 2u);
  delete probe;
}

TEST(RrlQueryPath, AnswersThatPassAllocateNothing) {
  PathProbe probe("rate: 1000\nexempt: [198.51.100.0/24]");
  const auto at = rrl_test::second_start(100);
  const std::string long_name = std::string(60, 'a') + "." + std::string(60, 'b') + "." + std::string(60, 'c') + ".";
  probe.serve({.qname = "www.example."}, at);  // warm-up: nothing of the thread is set up lazily
  const test::QuerySpec specs[] = {
      {.qname = "www.example."},
      {.qname = "www." + long_name},
      {.qname = "nodata.example."},
      {.qname = "nx.example."},
      {.qname = "sub.example."},
      {.qname = "fail.example."},
      {.qname = "outside.example."},
      {.qname = "www.example.", .client = "2001:db8::1"},
      {.qname = "www.example.", .client = "::ffff:192.0.2.1"},
      {.qname = "www.example.", .transport = dns::Transport::Tcp},
      {.qname = "www.example.", .client = "198.51.100.1"},
      {.qname = "proven.example."},
  };
  for (const auto& spec : specs) EXPECT_EQ(probe.serve(spec, at), 0u) << spec.qname << " from " << spec.client;
}

TEST(RrlQueryPath, LimitedAnswersAllocateNothingAfterTheLoggedOne) {
  struct Case {
    const char* config;
    bool sent;
  };
  const Case cases[] = {{"rate: 1\nslip: 0", false}, {"rate: 1\nslip: 1", true}, {"rate: 1\nlog_only: true", true}};
  for (const auto& c : cases) {
    PathProbe probe(c.config);
    const auto at = rrl_test::second_start(200);
    probe.serve({.qname = "nx.example."}, at);  // within the rate
    probe.serve({.qname = "nx.example."}, at);  // the first over the rate: logged
    for (int i = 0; i < 4; ++i) {
      bool sent = false;
      EXPECT_EQ(probe.serve({.qname = "nx" + std::to_string(i) + ".example."}, at, &sent), 0u) << c.config;
      EXPECT_EQ(sent, c.sent) << c.config;
    }
  }
}

}  // namespace
