// version.bind / id.server and friends in class CH (RFC 4892 §2).
#include <gtest/gtest.h>

#include <ldns/ldns.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "chaos_plugin.h"
#include "dns/message.h"
#include "dns/types.h"
#include "dns/writer.h"

using namespace stsd;

namespace {

// Notes whether the query was passed on.
class Sentinel final : public Plugin {
 public:
  explicit Sentinel(bool& reached) : reached_(reached) {}
  std::string_view name() const override { return "sentinel"; }
  void serve(Query& , Next ) const override { reached_ = true; }

 private:
  bool& reached_;
};

std::unique_ptr<Plugin> make(const std::string& yaml) {
  auto clock = std::make_shared<SystemClock>();
  Environment env(std::filesystem::temp_directory_path(), std::nullopt, clock, true);
  std::vector<std::string> listen;
  ConfigNode node(YAML::Load(yaml), std::make_shared<const std::filesystem::path>("stsd.yaml"), "chaos");
  PendingLoad load;
  PluginSetup setup{env, node, listen, 0, load};
  return chaos_plugin::make_chaos_plugin(setup);
}

struct Reply {
  bool passed_on = false;
  std::string rcode;
  bool aa = false;
  std::vector<std::string> answer;
};

Reply ask(std::unique_ptr<Plugin> plugin, const std::string& qname, uint16_t qtype, uint16_t qclass) {
  bool reached = false;
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::move(plugin));
  plugins.push_back(std::make_unique<Sentinel>(reached));
  Chain chain(std::move(plugins));

  std::vector<uint8_t> packet = {0x43, 0x21, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  const auto name = dns::Name::from_text(qname);
  packet.insert(packet.end(), name->wire().begin(), name->wire().end());
  packet.insert(packet.end(), {static_cast<uint8_t>(qtype >> 8), static_cast<uint8_t>(qtype),
                               static_cast<uint8_t>(qclass >> 8), static_cast<uint8_t>(qclass)});
  dns::Request request;
  EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  writer.begin(request, request.max_response_size());
  Query query{request, writer};
  chain.serve(query);
  const auto wire = writer.finish();

  Reply reply;
  reply.passed_on = reached;
  ldns_pkt* raw = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&raw, wire.data(), wire.size()), LDNS_STATUS_OK);
  std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)> pkt(raw, &ldns_pkt_free);
  if (!pkt) return reply;
  char* rcode = ldns_pkt_rcode2str(ldns_pkt_get_rcode(pkt.get()));
  reply.rcode = rcode;
  free(rcode);
  reply.aa = ldns_pkt_aa(pkt.get());
  const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
  for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    char* text = ldns_rr2str(ldns_rr_list_rr(answer, i));
    std::string line = text;
    free(text);
    std::replace(line.begin(), line.end(), '\t', ' ');
    while (!line.empty() && line.back() == '\n') line.pop_back();
    reply.answer.push_back(line);
  }
  return reply;
}

using Lines = std::vector<std::string>;
constexpr uint16_t kTxt = dns::rrtype::TXT;
constexpr uint16_t kCh = dns::rrclass::CH;

struct ChaosCase {
  const char* behaviour;
  const char* qname;
  uint16_t qtype;
  uint16_t qclass;
  bool passed_on;
  Lines answer;
};
std::ostream& operator<<(std::ostream& out, const ChaosCase& c) { return out << c.behaviour; }

const ChaosCase kCases[] = {
    {"version_bind", "version.bind.", kTxt, kCh, false, {"version.bind. 0 CH TXT \"stsd 0.1\""}},
    {"version_server", "version.server.", kTxt, kCh, false, {"version.server. 0 CH TXT \"stsd 0.1\""}},
    {"id_server", "id.server.", kTxt, kCh, false, {"id.server. 0 CH TXT \"ns1\""}},
    {"hostname_bind", "hostname.bind.", kTxt, kCh, false, {"hostname.bind. 0 CH TXT \"ns1\""}},
    {"case_insensitive_name_echoed", "VERSION.Bind.", kTxt, kCh, false, {"VERSION.Bind. 0 CH TXT \"stsd 0.1\""}},
    {"any_gets_the_txt", "id.server.", dns::rrtype::ANY, kCh, false, {"id.server. 0 CH TXT \"ns1\""}},
    {"other_type_is_empty", "version.bind.", dns::rrtype::A, kCh, false, {}},
    {"other_chaos_name_passes_on", "authors.bind.", kTxt, kCh, true, {}},
    {"class_in_passes_on", "version.bind.", kTxt, dns::rrclass::IN, true, {}},
};

class Chaos : public ::testing::TestWithParam<ChaosCase> {};

TEST_P(Chaos, Answers) {
  const auto& c = GetParam();
  const Reply reply = ask(make("{ version: \"stsd 0.1\", id: ns1 }"), c.qname, c.qtype, c.qclass);
  EXPECT_EQ(reply.passed_on, c.passed_on);
  if (c.passed_on) {
    EXPECT_EQ(reply.rcode, "REFUSED");  // nobody else answered
  } else {
    EXPECT_EQ(reply.rcode, "NOERROR");
    EXPECT_TRUE(reply.aa);
  }
  EXPECT_EQ(reply.answer, c.answer);
}

INSTANTIATE_TEST_SUITE_P(Chaos, Chaos, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ChaosCase>& info) { return std::string(info.param.behaviour); });

TEST(ChaosConfig, DefaultsAreVersionAndHostName) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  const Reply version = ask(make("{}"), "version.bind.", kTxt, kCh);
  EXPECT_EQ(version.answer, Lines{std::string("version.bind. 0 CH TXT \"stsd ") + STSD_VERSION + "\""});
  const Reply id = ask(make(""), "id.server.", kTxt, kCh);
  EXPECT_EQ(id.answer, Lines{std::string("id.server. 0 CH TXT \"") + host + "\""});
}

TEST(ChaosConfig, BareStringIsTheVersion) {
  const Reply reply = ask(make("\"hidden\""), "version.bind.", kTxt, kCh);
  EXPECT_EQ(reply.answer, Lines{"version.bind. 0 CH TXT \"hidden\""});
}

TEST(ChaosConfig, UnknownKeyFails) {
  try {
    make("{ version: x, authors: y }");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'authors'"), std::string::npos) << e.what();
  }
}

}  // namespace
