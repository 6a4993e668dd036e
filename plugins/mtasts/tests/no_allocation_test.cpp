// The DNS path of the mtasts plugin allocates nothing (issue 6; BRIEF: "Query hot path: no
// allocation"): every kind of answer, in both delegation modes (TXT with the id, held id,
// TLS-RPT, policy host A, SOA/NS at a delegated apex, NODATA, empty non-terminal,
// NXDOMAIN, a name that is not ours), is served under a counting operator new that must
// stay at zero. The counter is checked to work first.
#include <atomic>
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

#include "allocation_counter.h"

#include "clock.h"
#include "config.h"
#include "dns/message.h"
#include "dns/types.h"
#include "dns/writer.h"
#include "mtasts_plugin.h"
#include "plugin.h"
#include "plugin_test_support.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::mtasts {
namespace {

using namespace stsd::store;

using std::chrono::seconds;
namespace rrtype = dns::rrtype;

TEST(MtastsQueryPath, AnsweringAllocatesNothing) {
  store::test_support::TempStore store;
  auto clock = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(1735689600 + 3600)));
  auto state = std::make_shared<PolicyStore>(store.db(), clock);
  Policy policy{Mode::Enforce, {"mx.example.com"}, 604800};
  state->add_domain("example.com", DomainSettings{{"mailto:tls@example.com"}, {}});
  state->stage("example.com", policy, false);
  state->confirm("example.com", 1, true, "t");
  state->add_domain("held.example.com", {});
  state->stage("held.example.com", policy, false);
  state->confirm("held.example.com", 1, true, "t");
  state->set_hold("held.example.com", std::string("drift"));
  state->add_domain("staged.example.net", {});
  state->stage("staged.example.net", policy, false);

  const std::string config = R"(
service_zone: sts.provider.test.
nameservers: [ns1.provider.test.]
hostmaster: hostmaster.provider.test.
rotation: 1d
policy_host: { a: [192.0.2.10] }
)";
  auto parsed = parse_mtasts_config(
      ConfigNode(YAML::Load(config), std::make_shared<const std::filesystem::path>("t.yaml"), "mtasts"));
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<MtastsPlugin>(std::move(parsed), state));
  bool passed_on = false;
  plugins.push_back(std::make_unique<test::Sentinel>(passed_on));
  const Chain chain(std::move(plugins));

  struct Ask {
    const char* qname;
    uint16_t qtype;
  };
  const Ask asks[] = {
      {"_mta-sts.example.com.", rrtype::TXT},
      {"_mta-sts.EXAMPLE.com.", rrtype::TXT},
      {"_mta-sts.held.example.com.", rrtype::TXT},
      {"_mta-sts.staged.example.net.", rrtype::TXT},
      {"_smtp._tls.example.com.", rrtype::TXT},
      {"mta-sts.example.com.", rrtype::A},
      {"_mta-sts.example.com.", rrtype::SOA},
      {"_mta-sts.example.com.", rrtype::NS},
      {"_mta-sts.example.com.", rrtype::ANY},
      {"x._mta-sts.example.com.", rrtype::TXT},
      {"_mta-sts.nothing.example.", rrtype::TXT},
      {"www.example.org.", rrtype::A},
      {"_mta-sts.example.com.sts.provider.test.", rrtype::TXT},
      {"_mta-sts.held.example.com.sts.provider.test.", rrtype::TXT},
      {"_smtp._tls.example.com.sts.provider.test.", rrtype::TXT},
      {"example.com.sts.provider.test.", rrtype::TXT},
      {"com.sts.provider.test.", rrtype::TXT},
      {"_tls.example.com.sts.provider.test.", rrtype::TXT},
      {"nope.sts.provider.test.", rrtype::TXT},
      {"sts.provider.test.", rrtype::SOA},
  };
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);

  ASSERT_TRUE(test::allocation_counter_works());

  for (int round = 0; round < 2; ++round) {  // the second round: after a change and a new period
    for (const auto& ask : asks) {
      const auto packet =
          test::query_packet({.qname = ask.qname, .qtype = ask.qtype, .edns_size = test::kResolverEdns});
      dns::Request request;
      ASSERT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok) << ask.qname;
      writer.begin(request, request.max_response_size());
      Query query{request, writer};
      EXPECT_EQ(test::allocations_during([&] { chain.serve(query); }), 0u)
          << ask.qname << " " << dns::type_to_string(ask.qtype);
      EXPECT_GT(writer.size(), dns::kHeaderSize) << ask.qname;
    }
    state->stage("example.com", Policy{Mode::Testing, {"mx.example.com"}, 86400}, false);
    state->confirm("example.com", 2, true, "t");
    clock->advance(std::chrono::hours(25));
  }
}

}  // namespace
}  // namespace stsd::mtasts
