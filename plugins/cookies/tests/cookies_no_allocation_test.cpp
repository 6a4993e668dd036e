// The cookies plugin on the query path allocates nothing once a thread has counted its
// first query (its metrics shard is registered then): every kind of COOKIE option, both
// transports, fixed and rotating secrets, across a secret period, with a counting
// operator new that must stay at zero.
#include <gtest/gtest.h>

#include "allocation_counter.h"

#include <thread>

#include "cookie_exchange.h"
#include "cookie_test_support.h"
#include "cookies_plugin.h"
#include "environment.h"
#include "plugin_test_support.h"

namespace stsd::cookies {
namespace {

using namespace std::chrono;

class QueryPath {
 public:
  explicit QueryPath(const std::string& yaml) {
    const auto node = stsd::test::yaml_node(yaml, "servers[0].plugins.cookies");
    PluginSetup setup{env_, node, listen_, 0, load_};
    cookies_ = make_cookies_plugin(setup);
    std::vector<std::unique_ptr<Plugin>> plugins;
    plugins.push_back(std::make_unique<stsd::test::Borrowed>(*cookies_));
    plugins.push_back(std::make_unique<stsd::test::Borrowed>(responder_));
    chain_ = std::make_unique<Chain>(std::move(plugins));
  }

  // Serves the packet; returns the answer's COOKIE option data (empty if none).
  std::vector<uint8_t> serve(const std::vector<uint8_t>& packet, dns::Transport transport, size_t* allocations) {
    dns::Request request;
    EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
    request.transport = transport;
    request.client = boost::asio::ip::make_address("2001:db8::53");
    request.received = steady_clock::now();
    writer_.begin(request, request.max_response_size());
    Query query{request, writer_};
    if (allocations)
      *allocations = stsd::test::allocations_during([&] { chain_->serve(query); });
    else
      chain_->serve(query);
    test::Exchange answer;
    test::read_records(writer_.finish(), answer);
    return answer.cookie.value_or(std::vector<uint8_t>{});
  }

  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(Clock::time_point(seconds(1'700'000'400)));

 private:
  Environment env_{std::filesystem::temp_directory_path(), std::nullopt, clock, true};
  std::vector<std::string> listen_{"127.0.0.1:5300"};
  PendingLoad load_;
  std::unique_ptr<Plugin> cookies_;
  test::Responder responder_;
  std::unique_ptr<Chain> chain_;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer_{buffer_};
};

void every_kind_allocates_nothing(QueryPath& path) {
  const auto client_only = test::from_hex("0123456789abcdef");
  const auto no_cookie = stsd::test::query_packet({.qname = "www.example.", .edns_size = 1232});
  const auto first = test::cookie_query(client_only);
  path.serve(no_cookie, dns::Transport::Udp, nullptr);  // this thread's first query registers its shard

  size_t allocations = 99;
  const auto cookie = path.serve(first, dns::Transport::Udp, &allocations);
  EXPECT_EQ(allocations, 0u) << "client cookie only";
  ASSERT_EQ(cookie.size(), 24u);
  const auto valid = test::cookie_query(cookie);
  auto forged_option = cookie;
  forged_option[23] ^= 1;
  const auto forged = test::cookie_query(forged_option);
  const auto malformed = test::cookie_query(std::vector<uint8_t>(11, 7));

  const struct {
    const char* what;
    const std::vector<uint8_t>& packet;
    dns::Transport transport;
  } cases[] = {
      {"no cookie", no_cookie, dns::Transport::Udp},      {"valid", valid, dns::Transport::Udp},
      {"valid, TCP", valid, dns::Transport::Tcp},         {"forged", forged, dns::Transport::Udp},
      {"forged, TCP", forged, dns::Transport::Tcp},       {"malformed", malformed, dns::Transport::Udp},
  };
  for (const auto& c : cases) {
    path.serve(c.packet, c.transport, &allocations);
    EXPECT_EQ(allocations, 0u) << c.what;
  }
  // Past the renewal age and into the next secret period: renewed, still no allocation.
  path.clock->advance(minutes(40));
  const auto renewed = path.serve(valid, dns::Transport::Udp, &allocations);
  EXPECT_EQ(allocations, 0u) << "renewed";
  EXPECT_EQ(renewed.size(), 24u);
  EXPECT_NE(renewed, cookie);
}

TEST(CookiesQueryPath, ConfiguredSecretAllocatesNothing) {
  QueryPath path("secret: [e5e973e5a6b2a43f48e7dc849e37bfcf, 445536bcd2513298075a5d379663c962]");
  every_kind_allocates_nothing(path);
  std::thread worker([&] { every_kind_allocates_nothing(path); });
  worker.join();
}

TEST(CookiesQueryPath, RotatingSecretAllocatesNothing) {
  QueryPath path("secret_lifetime: 30m");
  every_kind_allocates_nothing(path);
  std::thread worker([&] { every_kind_allocates_nothing(path); });
  worker.join();
}

}  // namespace
}  // namespace stsd::cookies
