// The log plugin writes one line per query with the final rcode, flags and size.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/rdata.h"
#include "dns/writer.h"
#include "log_plugin.h"
#include "logging.h"
#include "plugin_test_support.h"

using namespace stsd;

namespace {

// Answers www.example.org. A, NXDOMAIN for nx.example.org., SERVFAIL for fail., throws
// for throw.; drops an NXDOMAIN for drop.example.org. and drops unanswered
// dropunanswered.; passes on everything else.
class Responder final : public Plugin {
 public:
  std::string_view name() const override { return "responder"; }
  void serve(Query& query, Next next) const override {
    const auto& qname = query.request.question.name;
    if (qname == *dns::Name::from_text("www.example.org.")) {
      query.response.start(dns::Rcode::NoError, true);
      const auto rdata = dns::address_rdata(boost::asio::ip::make_address("192.0.2.80"));
      query.response.add(dns::Section::Answer,
                         dns::RecordRef{query.request.question.original, dns::rrtype::A, dns::rrclass::IN, 60, rdata});
    } else if (qname == *dns::Name::from_text("nx.example.org.")) {
      query.response.start(dns::Rcode::NXDomain, true);
    } else if (qname == *dns::Name::from_text("fail.")) {
      query.response.start(dns::Rcode::ServFail, false);
    } else if (qname == *dns::Name::from_text("drop.example.org.")) {
      query.response.start(dns::Rcode::NXDomain, true);
      query.response.drop();  // as rrl or acl do
    } else if (qname == *dns::Name::from_text("dropunanswered.")) {
      query.response.drop();
    } else if (qname == *dns::Name::from_text("throw.")) {
      throw std::runtime_error("responder broke");
    } else {
      next(query);
    }
  }
};

struct Captured {
  std::string log;  // what the plugin wrote to stderr
  size_t size = 0;  // the response's size
  std::string rcode;
};

Captured run(std::unique_ptr<Plugin> log_plugin, const std::string& qname, uint16_t qtype = dns::rrtype::A,
             dns::Transport transport = dns::Transport::Udp, const char* client = "192.0.2.7",
             std::chrono::microseconds age = std::chrono::microseconds(0)) {
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::move(log_plugin));
  plugins.push_back(std::make_unique<Responder>());
  test::ChainRunner runner(std::move(plugins));

  ::testing::internal::CaptureStderr();
  const test::Reply reply = runner.run(
      {.qname = qname, .qtype = qtype, .transport = transport, .client = client, .client_port = 53001, .age = age});
  return {::testing::internal::GetCapturedStderr(), reply.size, reply.rcode};
}

std::unique_ptr<Plugin> make(const std::string& yaml) {
  test::SetupFixture fixture;
  const auto node = test::yaml_node(yaml, "log", "stsd.yaml");
  auto setup = fixture.setup(node);
  return log_plugin::make_log_plugin(setup);
}

size_t count_lines(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

TEST(Log, OneLineWithEveryField) {
  const Captured r = run(make("{}"), "WWW.example.org.", dns::rrtype::A, dns::Transport::Udp, "192.0.2.7",
                         std::chrono::microseconds(1500));
  ASSERT_EQ(count_lines(r.log), 1u) << r.log;
  EXPECT_NE(r.log.find("[info] "), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("client=192.0.2.7:53001 transport=udp qname=WWW.example.org. qtype=A class=IN "
                       "rcode=NOERROR flags=qr,aa,rd size=" +
                       std::to_string(r.size) + " duration_us="),
            std::string::npos)
      << r.log;
  std::smatch duration;
  ASSERT_TRUE(std::regex_search(r.log, duration, std::regex("duration_us=([0-9]+)\n$"))) << r.log;
  EXPECT_GE(std::stoull(duration[1]), 1500u);
}

TEST(Log, FinalRcodeOfUnansweredQueryIsRefused) {
  const Captured r = run(make(""), "elsewhere.test.", dns::rrtype::TXT, dns::Transport::Tcp, "::1");
  EXPECT_EQ(r.rcode, "REFUSED");
  EXPECT_NE(r.log.find("client=[::1]:53001 transport=tcp qname=elsewhere.test. qtype=TXT class=IN rcode=REFUSED "
                       "flags=qr,rd size=" +
                       std::to_string(r.size)),
            std::string::npos)
      << r.log;
}

TEST(Log, ExceptionIsLoggedAsServfail) {
  const Captured r = run(make("{}"), "throw.");
  EXPECT_EQ(r.rcode, "SERVFAIL");
  EXPECT_NE(r.log.find("qname=throw. qtype=A class=IN rcode=SERVFAIL"), std::string::npos) << r.log;
}

// A dropped answer: nothing is sent, so the line is all the operator sees of it.
std::string log_of_dropped(const std::string& config, const std::string& qname) {
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(make(config));
  plugins.push_back(std::make_unique<Responder>());
  const Chain chain(std::move(plugins));
  const auto packet = test::query_packet({.qname = qname});
  dns::Request request;
  EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
  request.client = boost::asio::ip::make_address("192.0.2.7");
  request.client_port = 53001;
  request.received = std::chrono::steady_clock::now();
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  writer.begin(request, request.max_response_size());
  Query query{request, writer};
  ::testing::internal::CaptureStderr();
  chain.serve(query);
  EXPECT_TRUE(writer.finish().empty());
  return ::testing::internal::GetCapturedStderr();
}

TEST(Log, DroppedAnswerIsLoggedAsDroppedWithItsRcode) {
  const std::string log = log_of_dropped("{}", "drop.example.org.");
  EXPECT_NE(log.find("client=192.0.2.7:53001 transport=udp qname=drop.example.org. qtype=A class=IN "
                     "rcode=NXDOMAIN flags=- size=0 duration_us="),
            std::string::npos)
      << log;
  EXPECT_TRUE(log.ends_with(" dropped=true\n")) << log;
  EXPECT_NE(log_of_dropped("{}", "dropunanswered.").find("rcode=REFUSED flags=- size=0"), std::string::npos);
  // Its class is the answer's: an NXDOMAIN is a denial.
  EXPECT_EQ(count_lines(log_of_dropped("{ class: denial }", "drop.example.org.")), 1u);
  EXPECT_EQ(count_lines(log_of_dropped("{ class: success }", "drop.example.org.")), 0u);
  EXPECT_EQ(count_lines(log_of_dropped("{ class: error }", "dropunanswered.")), 1u);
}

struct ClassCase {
  const char* behaviour;
  const char* config;
  const char* qname;
  bool logged;
};

class LogClass : public ::testing::TestWithParam<ClassCase> {};

TEST_P(LogClass, FiltersByResponseClass) {
  const auto& c = GetParam();
  const Captured r = run(make(c.config), c.qname);
  EXPECT_EQ(count_lines(r.log), c.logged ? 1u : 0u) << r.log;
}

const ClassCase kClassCases[] = {
    {"all_logs_success", "{ class: all }", "www.example.org.", true},
    {"success_logs_answer", "{ class: success }", "www.example.org.", true},
    {"success_skips_nxdomain", "{ class: [success] }", "nx.example.org.", false},
    {"denial_logs_nxdomain", "{ class: [denial] }", "nx.example.org.", true},
    {"denial_skips_answer", "{ class: denial }", "www.example.org.", false},
    {"error_logs_servfail", "{ class: error }", "fail.", true},
    {"error_logs_refused", "{ class: error }", "elsewhere.test.", true},
    {"error_skips_answer", "{ class: error }", "www.example.org.", false},
    {"two_classes", "{ class: [denial, error] }", "fail.", true},
};

INSTANTIATE_TEST_SUITE_P(Log, LogClass, ::testing::ValuesIn(kClassCases),
                         [](const ::testing::TestParamInfo<ClassCase>& info) {
                           return std::string(info.param.behaviour);
                         });

TEST(LogConfig, RejectsUnknownKeysAndClasses) {
  try {
    make("{ format: json }");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'format'"), std::string::npos) << e.what();
  }
  try {
    make("{ class: [success, loud] }");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown class 'loud'"), std::string::npos) << e.what();
  }
}

TEST(LogClassify, Classes) {
  // header: id, flags, qd, an, ns, ar
  auto header = [](uint16_t flags, uint16_t answers) {
    return std::vector<uint8_t>{0,
                                0,
                                static_cast<uint8_t>(flags >> 8),
                                static_cast<uint8_t>(flags),
                                0,
                                1,
                                static_cast<uint8_t>(answers >> 8),
                                static_cast<uint8_t>(answers),
                                0,
                                0,
                                0,
                                0};
  };
  EXPECT_EQ(log_plugin::classify(header(0x8400, 1)), log_plugin::kSuccess);  // answer
  EXPECT_EQ(log_plugin::classify(header(0x8000, 0)), log_plugin::kSuccess);  // referral
  EXPECT_EQ(log_plugin::classify(header(0x8400, 0)), log_plugin::kDenial);   // NODATA
  EXPECT_EQ(log_plugin::classify(header(0x8403, 0)), log_plugin::kDenial);   // NXDOMAIN
  EXPECT_EQ(log_plugin::classify(header(0x8002, 0)), log_plugin::kError);    // SERVFAIL
  EXPECT_EQ(log_plugin::classify(header(0x8005, 0)), log_plugin::kError);    // REFUSED
}

}  // namespace
