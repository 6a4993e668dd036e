// The errors plugin turns exceptions into SERVFAIL with a logged reason, and reports
// SERVFAIL answers; other answers pass through untouched and unlogged.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/rdata.h"
#include "dns/writer.h"
#include "errors_plugin.h"

using namespace stsd;

namespace {

enum class Behaviour { Throw, ThrowInt, ServFail, Answer, Pass };

class TestPlugin final : public Plugin {
 public:
  explicit TestPlugin(Behaviour behaviour) : behaviour_(behaviour) {}
  std::string_view name() const override { return "test"; }
  void serve(Query& query, Next next) const override {
    switch (behaviour_) {
      case Behaviour::Throw:
        // A half-written answer must not survive the exception.
        query.response.start(dns::Rcode::NoError, true);
        query.response.add(dns::Section::Answer,
                           dns::RecordRef{query.request.question.original, dns::rrtype::TXT, dns::rrclass::IN, 5,
                                          dns::txt_rdata("partial")});
        throw std::runtime_error("zone index corrupted");
      case Behaviour::ThrowInt: throw 42;
      case Behaviour::ServFail: query.response.start(dns::Rcode::ServFail, false); return;
      case Behaviour::Answer: query.response.start(dns::Rcode::NoError, true); return;
      case Behaviour::Pass: next(query); return;
    }
  }

 private:
  Behaviour behaviour_;
};

struct Outcome {
  std::string log;
  dns::Rcode rcode{};
  uint16_t answers = 0;
};

Outcome run(Behaviour behaviour) {
  auto clock = std::make_shared<SystemClock>();
  Environment env(std::filesystem::temp_directory_path(), std::nullopt, clock, true);
  std::vector<std::string> listen;
  ConfigNode node(YAML::Load("{}"), std::make_shared<const std::filesystem::path>("stsd.yaml"), "errors");
  PendingLoad load;
  PluginSetup setup{env, node, listen, 0, load};
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(errors_plugin::make_errors_plugin(setup));
  plugins.push_back(std::make_unique<TestPlugin>(behaviour));
  Chain chain(std::move(plugins));

  std::vector<uint8_t> packet = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  const auto name = dns::Name::from_text("Www.Example.org.");
  packet.insert(packet.end(), name->wire().begin(), name->wire().end());
  packet.insert(packet.end(), {0, 16, 0, 1});  // TXT IN
  dns::Request request;
  EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
  request.client = boost::asio::ip::make_address("2001:db8::7");
  request.client_port = 40001;
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  writer.begin(request, request.max_response_size());
  Query query{request, writer};

  ::testing::internal::CaptureStderr();
  chain.serve(query);
  Outcome out;
  out.log = ::testing::internal::GetCapturedStderr();
  out.rcode = writer.rcode();
  out.answers = writer.count(dns::Section::Answer);
  return out;
}

const std::string kContext = "client=[2001:db8::7]:40001 transport=udp qname=Www.Example.org. qtype=TXT class=IN";

TEST(Errors, ExceptionBecomesServfailWithContext) {
  const Outcome out = run(Behaviour::Throw);
  EXPECT_EQ(out.rcode, dns::Rcode::ServFail);
  EXPECT_EQ(out.answers, 0u);
  EXPECT_NE(out.log.find("[error] SERVFAIL after an exception: " + kContext + ": zone index corrupted"),
            std::string::npos)
      << out.log;
}

TEST(Errors, NonStandardExceptionIsContained) {
  const Outcome out = run(Behaviour::ThrowInt);
  EXPECT_EQ(out.rcode, dns::Rcode::ServFail);
  EXPECT_NE(out.log.find(kContext + ": (not a std::exception)"), std::string::npos) << out.log;
}

TEST(Errors, ServfailAnswerIsReported) {
  const Outcome out = run(Behaviour::ServFail);
  EXPECT_EQ(out.rcode, dns::Rcode::ServFail);
  EXPECT_NE(out.log.find("[error] SERVFAIL answered: " + kContext), std::string::npos) << out.log;
}

TEST(Errors, OtherAnswersAreQuiet) {
  const Outcome answered = run(Behaviour::Answer);
  EXPECT_EQ(answered.rcode, dns::Rcode::NoError);
  EXPECT_EQ(answered.log, "");
  const Outcome refused = run(Behaviour::Pass);
  EXPECT_EQ(refused.rcode, dns::Rcode::Refused);
  EXPECT_EQ(refused.log, "");
}

TEST(ErrorsConfig, TakesNoKeys) {
  auto clock = std::make_shared<SystemClock>();
  Environment env(std::filesystem::temp_directory_path(), std::nullopt, clock, true);
  std::vector<std::string> listen;
  ConfigNode node(YAML::Load("{ consolidate: 5m }"), std::make_shared<const std::filesystem::path>("stsd.yaml"),
                  "errors");
  PendingLoad load;
  PluginSetup setup{env, node, listen, 0, load};
  try {
    errors_plugin::make_errors_plugin(setup);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'consolidate'"), std::string::npos) << e.what();
  }
}

}  // namespace
