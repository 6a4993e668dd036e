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
#include "plugin_test_support.h"

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
        query.response.add(dns::Section::Answer, dns::RecordRef{query.request.question.original, dns::rrtype::TXT,
                                                                dns::rrclass::IN, 5, dns::txt_rdata("partial")});
        throw std::runtime_error("zone index corrupted");
      case Behaviour::ThrowInt:
        throw 42;
      case Behaviour::ServFail:
        query.response.start(dns::Rcode::ServFail, false);
        return;
      case Behaviour::Answer:
        query.response.start(dns::Rcode::NoError, true);
        return;
      case Behaviour::Pass:
        next(query);
        return;
    }
  }

 private:
  Behaviour behaviour_;
};

struct Outcome {
  std::string log;
  std::string rcode;
  size_t answers = 0;
};

Outcome run(Behaviour behaviour) {
  test::SetupFixture fixture;
  std::vector<std::unique_ptr<Plugin>> plugins;
  const auto node = test::yaml_node("{}", "errors", "stsd.yaml");
  auto setup = fixture.setup(node);
  plugins.push_back(errors_plugin::make_errors_plugin(setup));
  plugins.push_back(std::make_unique<TestPlugin>(behaviour));
  test::ChainRunner runner(std::move(plugins));

  ::testing::internal::CaptureStderr();
  const test::Reply reply = runner.run(
      {.qname = "Www.Example.org.", .qtype = dns::rrtype::TXT, .client = "2001:db8::7", .client_port = 40001});
  return {::testing::internal::GetCapturedStderr(), reply.rcode, reply.answer.size()};
}

const std::string kContext = "client=[2001:db8::7]:40001 transport=udp qname=Www.Example.org. qtype=TXT class=IN";

TEST(Errors, ExceptionBecomesServfailWithContext) {
  const Outcome out = run(Behaviour::Throw);
  EXPECT_EQ(out.rcode, "SERVFAIL");
  EXPECT_EQ(out.answers, 0u);
  EXPECT_NE(out.log.find("[error] SERVFAIL after an exception: " + kContext + ": zone index corrupted"),
            std::string::npos)
      << out.log;
}

TEST(Errors, NonStandardExceptionIsContained) {
  const Outcome out = run(Behaviour::ThrowInt);
  EXPECT_EQ(out.rcode, "SERVFAIL");
  EXPECT_NE(out.log.find(kContext + ": (not a std::exception)"), std::string::npos) << out.log;
}

TEST(Errors, ServfailAnswerIsReported) {
  const Outcome out = run(Behaviour::ServFail);
  EXPECT_EQ(out.rcode, "SERVFAIL");
  EXPECT_NE(out.log.find("[error] SERVFAIL answered: " + kContext), std::string::npos) << out.log;
}

TEST(Errors, OtherAnswersAreQuiet) {
  const Outcome answered = run(Behaviour::Answer);
  EXPECT_EQ(answered.rcode, "NOERROR");
  EXPECT_EQ(answered.log, "");
  const Outcome refused = run(Behaviour::Pass);
  EXPECT_EQ(refused.rcode, "REFUSED");
  EXPECT_EQ(refused.log, "");
}

TEST(ErrorsConfig, TakesNoKeys) {
  test::SetupFixture fixture;
  try {
    const auto node = test::yaml_node("{ consolidate: 5m }", "errors", "stsd.yaml");
    auto setup = fixture.setup(node);
    errors_plugin::make_errors_plugin(setup);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'consolidate'"), std::string::npos) << e.what();
  }
}

}  // namespace
