#include "plugin.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "dns/rdata.h"
#include "registry.h"

using namespace stsd;

namespace {
// A plugin that records its name in a trace and then answers, passes or throws.
class TracePlugin : public Plugin {
 public:
  enum class Action { Pass, Answer, Throw };
  TracePlugin(std::string name, Action action, std::vector<std::string>& trace)
      : name_(std::move(name)), action_(action), trace_(trace) {}
  std::string_view name() const override { return name_; }
  void serve(Query& q, Next next) const override {
    trace_.push_back(name_);
    if (action_ == Action::Throw) throw std::runtime_error("boom");
    if (action_ == Action::Answer) {
      q.response.start(dns::Rcode::NoError, true);
      return;
    }
    next(q);
  }

 private:
  std::string name_;
  Action action_;
  std::vector<std::string>& trace_;
};

struct QueryRun {
  std::vector<uint8_t> buffer = std::vector<uint8_t>(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer{buffer};
  dns::Request request;
  QueryRun() {
    request.has_question = true;
    request.question.name = *dns::Name::from_text("example.org.");
    request.question.original = request.question.name;
    request.question.type = dns::rrtype::A;
    request.question.rclass = dns::rrclass::IN;
    writer.begin(request, 512);
  }
  dns::Rcode serve(const Chain& chain) {
    Query q{request, writer};
    chain.serve(q);
    EXPECT_TRUE(writer.finished());
    return writer.rcode();
  }
};
}  // namespace

TEST(Chain, NobodyAnswersIsRefused) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<TracePlugin>("a", TracePlugin::Action::Pass, trace));
  plugins.push_back(std::make_unique<TracePlugin>("b", TracePlugin::Action::Pass, trace));
  Chain chain(std::move(plugins));
  QueryRun run;
  EXPECT_EQ(run.serve(chain), dns::Rcode::Refused);
  EXPECT_EQ(trace, (std::vector<std::string>{"a", "b"}));
}

TEST(Chain, FirstAnswerStopsTheChain) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<TracePlugin>("a", TracePlugin::Action::Answer, trace));
  plugins.push_back(std::make_unique<TracePlugin>("b", TracePlugin::Action::Answer, trace));
  Chain chain(std::move(plugins));
  QueryRun run;
  EXPECT_EQ(run.serve(chain), dns::Rcode::NoError);
  EXPECT_EQ(trace, (std::vector<std::string>{"a"}));
}

TEST(Chain, EscapingExceptionIsServfail) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<TracePlugin>("a", TracePlugin::Action::Throw, trace));
  Chain chain(std::move(plugins));
  QueryRun run;
  EXPECT_EQ(run.serve(chain), dns::Rcode::ServFail);
}

TEST(Registry, ChainOrderIsTheCompiledInList) {
  Registry registry;
  register_all_plugins(registry);
  std::vector<std::string> names;
  for (const auto& p : registry.plugins()) names.push_back(p.name);
  // plugins/CMakeLists.txt: log errors chaos mtasts file.
  const std::vector<std::string> expected_order = {"log", "errors", "chaos", "mtasts", "file"};
  std::vector<std::string> present;
  for (const auto& n : expected_order)
    if (registry.find_plugin(n)) present.push_back(n);
  EXPECT_EQ(names.size() >= present.size(), true);
  std::vector<std::string> filtered;
  for (const auto& n : names)
    if (std::find(expected_order.begin(), expected_order.end(), n) != expected_order.end()) filtered.push_back(n);
  EXPECT_EQ(filtered, present);
  EXPECT_EQ(present, expected_order) << "every core plugin is registered";
}
