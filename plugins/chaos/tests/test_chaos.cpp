// version.bind / id.server and friends in class CH (RFC 4892 §2).
#include <gtest/gtest.h>

#include <unistd.h>

#include <string>
#include <vector>

#include "chaos_plugin.h"
#include "dns/message.h"
#include "dns/types.h"
#include "plugin_test_support.h"

using namespace stsd;

namespace {

std::unique_ptr<Plugin> make(const std::string& yaml) {
  test::SetupFixture fixture;
  const auto node = test::yaml_node(yaml, "chaos", "stsd.yaml");
  auto setup = fixture.setup(node);
  return chaos_plugin::make_chaos_plugin(setup);
}

test::Reply ask(std::unique_ptr<Plugin> plugin, const std::string& qname, uint16_t qtype, uint16_t qclass) {
  test::ChainRunner runner(std::move(plugin));
  return runner.run({.qname = qname, .qtype = qtype, .qclass = qclass});
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
  const test::Reply reply = ask(make("{ version: \"stsd 0.1\", id: ns1 }"), c.qname, c.qtype, c.qclass);
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
                         [](const ::testing::TestParamInfo<ChaosCase>& info) {
                           return std::string(info.param.behaviour);
                         });

TEST(ChaosConfig, DefaultsAreVersionAndHostName) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  const test::Reply version = ask(make("{}"), "version.bind.", kTxt, kCh);
  EXPECT_EQ(version.answer, Lines{std::string("version.bind. 0 CH TXT \"stsd ") + STSD_VERSION + "\""});
  const test::Reply id = ask(make(""), "id.server.", kTxt, kCh);
  EXPECT_EQ(id.answer, Lines{std::string("id.server. 0 CH TXT \"") + host + "\""});
}

TEST(ChaosConfig, BareStringIsTheVersion) {
  const test::Reply reply = ask(make("\"hidden\""), "version.bind.", kTxt, kCh);
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
