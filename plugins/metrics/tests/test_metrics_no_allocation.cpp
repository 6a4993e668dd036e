// The metrics plugin on the query path allocates nothing once a thread has counted its
// first query (its shard is registered then): every rcode, both transports, a
// throwing plugin behind it, with a counting operator new that must stay at zero.
#include <gtest/gtest.h>

#include "allocation_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>

#include "dns_metrics.h"
#include "environment.h"
#include "metrics_test_support.h"
#include "plugin_test_support.h"

using namespace stsd;
using namespace stsd::metrics_test;
using namespace stsd::metrics;

namespace {

TEST(MetricsQueryPath, CountingAllocatesNothing) {
  Environment env(std::filesystem::temp_directory_path(), std::nullopt, std::make_shared<SystemClock>(), true);
  std::vector<std::string> listen{"127.0.0.1:5300"};
  const auto node = test::yaml_node("{}", "servers[0].plugins.metrics");
  PendingLoad load;
  PluginSetup setup{env, node, listen, 0, load};
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(metrics_plugin::make_metrics_plugin(setup));
  plugins.push_back(std::make_unique<Responder>());
  const Chain chain(std::move(plugins));

  struct Ask {
    const char* qname;
    uint16_t qtype;
    dns::Transport transport;
  };
  // "throw.test." is left out: throwing allocates the exception itself, in the plugin
  // behind us; what the metrics plugin does around it is covered by the unit tests.
  const Ask asks[] = {
      {"www.test.", dns::rrtype::A, dns::Transport::Udp},   {"www.test.", dns::rrtype::AAAA, dns::Transport::Tcp},
      {"nx.test.", dns::rrtype::TXT, dns::Transport::Udp},  {"pass.test.", dns::rrtype::MX, dns::Transport::Tcp},
      {"www.test.", dns::rrtype::CAA, dns::Transport::Udp}, {"www.test.", dns::rrtype::ANY, dns::Transport::Udp},
  };
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);

  ASSERT_TRUE(test::allocation_counter_works());

  auto serve = [&](const Ask& ask, bool counted) {
    const auto packet = test::query_packet({.qname = ask.qname, .qtype = ask.qtype});
    dns::Request request;
    ASSERT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
    request.transport = ask.transport;
    request.received = std::chrono::steady_clock::now();
    writer.begin(request, request.max_response_size());
    Query query{request, writer};
    if (counted) {
      EXPECT_EQ(test::allocations_during([&] { chain.serve(query); }), 0u)
          << ask.qname << " " << dns::type_to_string(ask.qtype);
    } else {
      chain.serve(query);  // this thread's first query registers its counter shard
    }
  };
  serve(asks[0], false);  // this thread's first query registers its shard
  for (const auto& ask : asks) serve(ask, true);

  // A worker thread, as in the server: one allocation-free query after its first.
  std::thread worker([&] {
    serve(asks[1], false);
    for (const auto& ask : asks) serve(ask, true);
  });
  worker.join();
  const auto text = metrics_registry(env)->scrape();
  EXPECT_NE(text.find("stsd_dns_request_duration_seconds_count{server=\"127.0.0.1:5300\"} 14\n"), std::string::npos)
      << text;
}

}  // namespace
