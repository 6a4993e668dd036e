// The query path allocates nothing: a query allowed, refused (with its EDE), dropped or
// matched by no rule is served with a counting operator new that must stay at zero.
#include <gtest/gtest.h>

#include "allocation_counter.h"

#include "acl_plugin.h"
#include "dns/types.h"
#include "plugin_test_support.h"

using namespace stsd;

namespace {

TEST(AclQueryPath, DecidingAllocatesNothing) {
  test::SetupFixture fixture;
  const auto config = test::yaml_node(R"(
rules:
  - {action: deny, from: [192.0.2.0/24, "2001:db8::/32"], types: [AXFR, IXFR]}
  - {action: allow, from: 192.0.2.0/24}
  - {action: drop, from: 198.51.100.0/24}
)",
                                      "acl");
  auto setup = fixture.setup(config);
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(acl::make_acl_plugin(setup));
  const Chain chain(std::move(plugins));

  struct Ask {
    const char* client;
    uint16_t qtype;
  };
  const Ask asks[] = {
      {"192.0.2.1", dns::rrtype::AXFR},     // refused
      {"::ffff:192.0.2.1", dns::rrtype::IXFR},  // refused, the address unmapped
      {"2001:db8::1", dns::rrtype::AXFR},   // refused
      {"192.0.2.1", dns::rrtype::TXT},      // allowed
      {"198.51.100.1", dns::rrtype::A},     // dropped
      {"203.0.113.1", dns::rrtype::A},      // no rule matches
  };
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);

  ASSERT_TRUE(test::allocation_counter_works());

  for (const auto& ask : asks) {
    const auto packet =
        test::query_packet({.qname = "example.org.", .qtype = ask.qtype, .edns_size = test::kResolverEdns});
    dns::Request request;
    ASSERT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
    request.transport = dns::Transport::Tcp;
    request.client = boost::asio::ip::make_address(ask.client);
    writer.begin(request, request.max_response_size());
    Query query{request, writer};

    EXPECT_EQ(test::allocations_during([&] {
                chain.serve(query);
                writer.finish();
              }),
              0u)
        << ask.client << " " << dns::type_to_string(ask.qtype);
  }
}

}  // namespace
