#include "plugin.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.h"
#include "dns/edns.h"
#include "dns/rdata.h"
#include "environment.h"
#include "plugin_test_support.h"
#include "registry.h"
#include "server/runtime.h"
#include "temp_dir.h"

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

// RFC 8914 §4.21, as Knot 3.2 answers a name outside its zones: EDE 20 without text,
// over UDP and TCP alike, and no OPT at all to a query without EDNS.
TEST(Chain, NobodyAnswersCarriesNotAuthoritative) {
  std::vector<std::string> trace;
  test::ChainRunner runner(std::make_unique<TracePlugin>("a", TracePlugin::Action::Pass, trace));
  for (const auto transport : {dns::Transport::Udp, dns::Transport::Tcp}) {
    const test::Reply reply =
        runner.run({.qname = "www.example.net.", .transport = transport, .edns_size = test::kResolverEdns});
    EXPECT_EQ(reply.rcode, "REFUSED");
    const test::EdnsOption* ede = reply.option(dns::edns_option::EXTENDED_ERROR);
    ASSERT_NE(ede, nullptr);
    EXPECT_EQ(ede->data, (std::vector<uint8_t>{0, dns::extended_error::NotAuthoritative}));
  }
  const test::Reply plain = runner.run({.qname = "www.example.net."});
  EXPECT_EQ(plain.rcode, "REFUSED");
  EXPECT_FALSE(plain.edns);
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

namespace {
std::vector<std::string> chain_names(const Chain& chain) {
  std::vector<std::string> names;
  for (const auto& p : chain.plugins()) names.emplace_back(p->name());
  return names;
}
}  // namespace

// plugins/CMakeLists.txt (STSD_PLUGIN_ORDER) is the one list that orders every chain;
// policyhost and confirm register services only, so they are no chain plugins.
TEST(Registry, PluginsAreInTheCompiledInOrder) {
  Registry registry;
  register_all_plugins(registry);
  std::vector<std::string> names;
  for (const auto& p : registry.plugins()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"metrics", "log", "errors", "rrl", "cookies", "acl", "chaos", "transfer",
                                            "mtasts", "file"}));
}

struct OrderCase {
  const char* name;
  const char* plugins_yaml;           // the server block's plugins, in the order a user wrote them
  std::vector<std::string> expected;  // the chain: the compiled-in order, only these
};

void PrintTo(const OrderCase& c, std::ostream* os) { *os << c.name; }

class ChainOrder : public ::testing::TestWithParam<OrderCase> {};

// Whatever order the file names them in, a chain holds exactly the configured plugins in
// the registry's order (CoreDNS's plugin.cfg rule).
TEST_P(ChainOrder, IsTheCompiledInOrderFilteredToTheConfiguredPlugins) {
  Registry registry;
  register_all_plugins(registry);
  const test::TempDir temp_dir("chain-order");
  const auto& dir = temp_dir.path();
  std::ofstream(dir / "zone.test.zone") << "$ORIGIN zone.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n"
                                           "@ NS ns1\nns1 A 192.0.2.1\n";
  std::ofstream(dir / "stsd.yaml") << "servers:\n  - listen: [\"127.0.0.1:5300\"]\n    plugins:\n"
                                   << GetParam().plugins_yaml;
  const ConfigNode root = load_config_file(dir / "stsd.yaml");
  Environment env(dir, std::nullopt, std::make_shared<SystemClock>(), true);
  PendingLoad load;
  const auto blocks = build_server_blocks(root, registry, env, load);
  ASSERT_EQ(blocks.size(), 1u);

  // The table states the rule; the registry must agree with it.
  const auto configured = root.require("servers").at(0).require("plugins").keys();
  std::vector<std::string> filtered;
  for (const auto& entry : registry.plugins())
    if (std::find(configured.begin(), configured.end(), entry.name) != configured.end()) filtered.push_back(entry.name);
  EXPECT_EQ(filtered, GetParam().expected);
  EXPECT_EQ(chain_names(*blocks[0].chain), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    WrittenOrders, ChainOrder,
    ::testing::Values(
        OrderCase{"reversed",
                  "      file: [{ zone: zone.test., path: zone.test.zone }]\n      chaos: { version: x }\n"
                  "      errors: {}\n      log: {}\n      metrics: {}\n",
                  {"metrics", "log", "errors", "chaos", "file"}},
        OrderCase{"shuffled",
                  "      chaos: { version: x }\n      metrics: {}\n"
                  "      file: [{ zone: zone.test., path: zone.test.zone }]\n      log: {}\n",
                  {"metrics", "log", "chaos", "file"}},
        OrderCase{"two", "      errors: {}\n      log: {}\n", {"log", "errors"}},
        OrderCase{"one", "      chaos: { version: x }\n", {"chaos"}}),
    [](const auto& info) { return std::string(info.param.name); });

// An action registered while the load commits runs after every action registered before
// it: the transfer plugin's first poll waits for every plugin's zone source that way.
TEST(PendingLoadCommit, ActionsAddedDuringTheCommitRunLast) {
  stsd::PendingLoad load;
  std::vector<std::string> ran;
  load.on_commit([&] {
    ran.push_back("first");
    load.on_commit([&] {
      ran.push_back("nested");
      load.on_commit([&] { ran.push_back("nested twice"); });
    });
  });
  load.on_commit([&] { ran.push_back("second"); });
  load.on_commit([&] { throw std::runtime_error("a failing action"); });
  load.on_commit([&] { ran.push_back("third"); });
  load.commit();
  EXPECT_EQ(ran, (std::vector<std::string>{"first", "second", "third", "nested", "nested twice"}));
  load.commit();
  EXPECT_EQ(ran.size(), 5u) << "each action runs once";
}
