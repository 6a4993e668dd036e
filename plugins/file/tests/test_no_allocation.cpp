// The query path allocates nothing: every kind of answer the file plugin gives (exact,
// CNAME chain, wildcard, referral, NODATA, NXDOMAIN, ANY, truncation) is served with
// a counting operator new that must stay at zero.
#include <gtest/gtest.h>

#include "allocation_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "dns/types.h"
#include "file_plugin.h"
#include "plugin_test_support.h"

using namespace stsd;

namespace {

TEST(FileQueryPath, AnsweringAllocatesNothing) {
  const auto data = std::filesystem::path(STSD_SOURCE_DIR) / "plugins/file/tests/data";
  test::SetupFixture fixture;
  const auto config = test::yaml_node("- { zone: example.org., path: lookup.zone }", "file", data / "stsd.yaml");
  auto setup = fixture.setup(config);
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(file::make_file_plugin(setup));
  const Chain chain(std::move(plugins));

  struct Ask {
    const char* qname;
    uint16_t qtype;
    dns::Transport transport;
  };
  const Ask asks[] = {
      {"www.example.org.", dns::rrtype::A, dns::Transport::Udp},
      {"example.org.", dns::rrtype::NS, dns::Transport::Udp},
      {"example.org.", dns::rrtype::MX, dns::Transport::Udp},
      {"chain1.example.org.", dns::rrtype::A, dns::Transport::Udp},
      {"loop1.example.org.", dns::rrtype::A, dns::Transport::Udp},
      {"dangling.example.org.", dns::rrtype::A, dns::Transport::Udp},
      {"a.b.wild.example.org.", dns::rrtype::TXT, dns::Transport::Udp},
      {"foo.walias.example.org.", dns::rrtype::A, dns::Transport::Udp},
      {"host.sub.example.org.", dns::rrtype::A, dns::Transport::Udp},
      {"host.big.example.org.", dns::rrtype::A, dns::Transport::Udp},
      {"signed.example.org.", dns::rrtype::DS, dns::Transport::Udp},
      {"www.example.org.", dns::rrtype::TXT, dns::Transport::Udp},
      {"nope.example.org.", dns::rrtype::A, dns::Transport::Udp},
      {"www.example.org.", dns::rrtype::ANY, dns::Transport::Tcp},
      {"www.example.net.", dns::rrtype::A, dns::Transport::Udp},
  };
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);

  ASSERT_TRUE(test::allocation_counter_works());

  for (const auto& ask : asks) {
    const auto packet = test::query_packet({.qname = ask.qname, .qtype = ask.qtype, .transport = ask.transport});
    dns::Request request;
    ASSERT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
    request.transport = ask.transport;
    writer.begin(request, request.max_response_size());
    Query query{request, writer};

    EXPECT_EQ(test::allocations_during([&] { chain.serve(query); }), 0u)
        << ask.qname << " " << dns::type_to_string(ask.qtype);
    EXPECT_GT(writer.size(), dns::kHeaderSize) << ask.qname;
  }
}

}  // namespace
