// The rrl plugin: its config (defaults, every key, errors naming file:line), the class
// of each kind of answer, the bucket key (prefix lengths, names only where they cannot
// be made up), slip, what is spared (TCP, a proven address, exempt prefixes, a class at
// rate 0, an answer already dropped), log_only and the metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "environment.h"
#include "metrics.h"
#include "plugin_test_support.h"
#include "rrl_plugin.h"
#include "rrl_test_support.h"

using namespace stsd;
using namespace stsd::rrl;
using rrl_test::Outcome;
using rrl_test::Runner;
using rrl_test::second_start;

namespace {

struct Fixture {
  test::SetupFixture setup_fixture;

  std::unique_ptr<RrlPlugin> plugin(const std::string& yaml) {
    const auto node = test::yaml_node(yaml, "servers[0].plugins.rrl");
    auto setup = setup_fixture.setup(node);
    auto made = make_rrl_plugin(setup);
    return std::unique_ptr<RrlPlugin>(static_cast<RrlPlugin*>(made.release()));
  }
  std::string scrape() { return metrics::metrics_registry(setup_fixture.env)->scrape(); }
};

std::string config_error(const std::string& yaml) {
  Fixture f;
  try {
    f.plugin(yaml);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(accepted)";
}

// Asks `count` times at the same moment; tallies what came back.
struct Tally {
  int full = 0, truncated = 0, dropped = 0;
};
Tally ask(Runner& runner, const test::QuerySpec& spec, int count, std::chrono::steady_clock::time_point at) {
  Tally tally;
  for (int i = 0; i < count; ++i) {
    const Outcome outcome = runner.run(spec, at);
    if (!outcome.sent)
      ++tally.dropped;
    else if (outcome.truncated)
      ++tally.truncated;
    else
      ++tally.full;
  }
  return tally;
}

test::QuerySpec udp(const std::string& qname, const std::string& client = "192.0.2.1") {
  return {.qname = qname, .client = client};
}

TEST(RrlConfig, EmptySectionGivesTheDocumentedDefaults) {
  Fixture f;
  const Settings s = f.plugin("{}")->settings();
  for (uint32_t rate : s.rates) EXPECT_EQ(rate, 100u);
  EXPECT_EQ(s.slip, 2u);
  EXPECT_EQ(s.ipv4_prefix, 24u);
  EXPECT_EQ(s.ipv6_prefix, 56u);
  EXPECT_TRUE(s.exempt.empty());
  EXPECT_FALSE(s.log_only);
  EXPECT_EQ(s.table_size, 393241u);
}

TEST(RrlConfig, EveryKey) {
  Fixture f;
  const Settings s = f.plugin(R"(
rate: 50
rates: { nxdomain: 5, error: 0 }
slip: 3
ipv4_prefix: 32
ipv6_prefix: 64
exempt: [192.0.2.0/24, "2001:db8::/32", 198.51.100.7]
log_only: true
table_size: 1000
)")->settings();
  EXPECT_EQ(s.rates[static_cast<size_t>(ResponseClass::Positive)], 50u);
  EXPECT_EQ(s.rates[static_cast<size_t>(ResponseClass::NxDomain)], 5u);
  EXPECT_EQ(s.rates[static_cast<size_t>(ResponseClass::NoData)], 50u);
  EXPECT_EQ(s.rates[static_cast<size_t>(ResponseClass::Referral)], 50u);
  EXPECT_EQ(s.rates[static_cast<size_t>(ResponseClass::Error)], 0u);
  EXPECT_EQ(s.slip, 3u);
  EXPECT_EQ(s.ipv4_prefix, 32u);
  EXPECT_EQ(s.ipv6_prefix, 64u);
  ASSERT_EQ(s.exempt.size(), 3u);
  EXPECT_EQ(s.exempt[2].length, 32u);
  EXPECT_TRUE(s.log_only);
  EXPECT_EQ(s.table_size, 1000u);
}

TEST(RrlConfig, ErrorsNameFileLineAndKey) {
  struct Case {
    const char* yaml;
    const char* expected;
  };
  const Case cases[] = {
      {"rate: 10\nburst: 5\n", "stsd.yaml:2:1: servers[0].plugins.rrl.burst: unknown key 'burst'"},
      {"rate: 1000001\n", "stsd.yaml:1:7: servers[0].plugins.rrl.rate"},
      {"rate: fast\n", "servers[0].plugins.rrl.rate"},
      {"slip: 101\n", "stsd.yaml:1:7: servers[0].plugins.rrl.slip"},
      {"ipv4_prefix: 33\n", "servers[0].plugins.rrl.ipv4_prefix"},
      {"ipv6_prefix: 129\n", "servers[0].plugins.rrl.ipv6_prefix"},
      {"table_size: 0\n", "servers[0].plugins.rrl.table_size"},
      {"table_size: 16777217\n", "servers[0].plugins.rrl.table_size"},
      {"log_only: maybe\n", "servers[0].plugins.rrl.log_only"},
      {"rates:\n  nxdomain: 5\n  wildcard: 1\n", "stsd.yaml:3:3: servers[0].plugins.rrl.rates.wildcard: unknown key 'wildcard'"},
      {"exempt:\n  - 192.0.2.0/24\n  - 10.1.2.3/8\n",
       "stsd.yaml:3:5: servers[0].plugins.rrl.exempt[1]: '10.1.2.3/8' is not an address prefix"},
      {"exempt: [example.com]\n", "'example.com' is not an address prefix"},
  };
  for (const auto& c : cases) {
    const std::string error = config_error(c.yaml);
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.yaml << "\n got: " << error;
  }
}

TEST(RrlClasses, EachKindOfAnswerHasItsClassAndItsOwnRate) {
  // Each class at its own rate: the class decides which budget an answer spends.
  Fixture f;
  auto rrl = f.plugin("rates: { positive: 1, nodata: 2, nxdomain: 3, referral: 4, error: 5 }\nslip: 0");
  Runner runner(*rrl);
  struct Case {
    const char* qname;
    ResponseClass expected;
    int rate;
  };
  const Case cases[] = {
      {"www.example.", ResponseClass::Positive, 1},    {"nodata.example.", ResponseClass::NoData, 2},
      {"nx1.example.", ResponseClass::NxDomain, 3},    {"sub.example.", ResponseClass::Referral, 4},
      {"fail.example.", ResponseClass::Error, 5},      {"outside.example.", ResponseClass::Error, 5},
  };
  int second = 1000;
  for (const auto& c : cases) {
    const auto at = second_start(++second);
    const Tally tally = ask(runner, udp(c.qname), 10, at);
    EXPECT_EQ(tally.full, c.rate) << c.qname;
    EXPECT_EQ(tally.dropped, 10 - c.rate) << c.qname;
  }
  // "outside" shares the error bucket with "fail": nobody answered is REFUSED, an error.
  const auto at = second_start(++second);
  EXPECT_EQ(ask(runner, udp("fail.example."), 3, at).full, 3);
  EXPECT_EQ(ask(runner, udp("outside.example."), 3, at).full, 2);
}

TEST(RrlClasses, ClassifyReadsTheWritersState) {
  Fixture f;
  auto rrl = f.plugin("{}");
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  const auto packet = test::query_packet({.qname = "www.example."});
  dns::Request request;
  ASSERT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
  writer.begin(request, 512);
  EXPECT_EQ(classify(writer), ResponseClass::Error);  // nobody answered
  writer.start(dns::Rcode::BadCookie, false);
  EXPECT_EQ(classify(writer), ResponseClass::Error);
  writer.start(dns::Rcode::Refused, false);
  EXPECT_EQ(classify(writer), ResponseClass::Error);
  writer.start(dns::Rcode::NXDomain, true);
  EXPECT_EQ(classify(writer), ResponseClass::NxDomain);
  writer.start(dns::Rcode::NoError, false);  // no answer, nothing in authority, not AA
  EXPECT_EQ(classify(writer), ResponseClass::NoData);
}

TEST(RrlKeys, NamesSplitPositiveAndNodataBucketsOnly) {
  Fixture f;
  auto rrl = f.plugin("rate: 2\nslip: 0");
  Runner runner(*rrl);
  const auto at = second_start(2000);
  for (const char* name : {"www.a.example.", "www.b.example.", "nodata.a.example.", "nodata.b.example."})
    EXPECT_EQ(ask(runner, udp(name), 3, at).full, 2) << name;
  // The letter case of a name does not make another bucket.
  EXPECT_EQ(ask(runner, udp("WWW.A.example."), 1, at).dropped, 1);
  // Random names cannot multiply the budget of NXDOMAIN, referral and error answers.
  int full = 0;
  for (int i = 0; i < 10; ++i) full += ask(runner, udp("nx" + std::to_string(i) + ".example."), 1, at).full;
  EXPECT_EQ(full, 2);
  full = 0;
  for (int i = 0; i < 10; ++i) full += ask(runner, udp("sub.n" + std::to_string(i) + ".example."), 1, at).full;
  EXPECT_EQ(full, 2);
  full = 0;
  for (int i = 0; i < 10; ++i) full += ask(runner, udp("refused" + std::to_string(i) + ".example."), 1, at).full;
  EXPECT_EQ(full, 2);
}

TEST(RrlKeys, ClientsShareABucketByPrefix) {
  struct Case {
    const char* config;
    const char* first;
    const char* second;
    bool shared;
  };
  const Case cases[] = {
      {"", "192.0.2.1", "192.0.2.254", true},
      {"", "192.0.2.1", "192.0.3.1", false},
      {"", "192.0.2.1", "::ffff:192.0.2.9", true},  // IPv4 on an IPv6 socket
      {"ipv4_prefix: 32", "192.0.2.1", "192.0.2.2", false},
      {"ipv4_prefix: 16", "192.0.2.1", "192.0.77.1", true},
      {"", "2001:db8:0:1::1", "2001:db8:0:ff::2", true},
      {"", "2001:db8:0:1::1", "2001:db8:0:100::1", false},
      {"ipv6_prefix: 64", "2001:db8:0:1::1", "2001:db8:0:1:ffff::9", true},
      {"ipv6_prefix: 64", "2001:db8:0:1::1", "2001:db8:0:2::1", false},
      {"ipv4_prefix: 0", "192.0.2.1", "203.0.113.1", true},
      {"ipv4_prefix: 0", "192.0.2.1", "2001:db8::1", false},  // families never share
  };
  for (const auto& c : cases) {
    Fixture f;
    auto rrl = f.plugin(std::string(c.config) + "\nrate: 3\nslip: 0");
    Runner runner(*rrl);
    const auto at = second_start(3000);
    EXPECT_EQ(ask(runner, udp("www.example.", c.first), 3, at).full, 3);
    EXPECT_EQ(ask(runner, udp("www.example.", c.second), 1, at).full, c.shared ? 0 : 1)
        << "[" << c.config << "] " << c.first << " " << c.second;
  }
}

TEST(RrlLimits, AtMostRatePerSecondAndWholeAgainTheNextSecond) {
  Fixture f;
  auto rrl = f.plugin("rate: 5\nslip: 0");
  Runner runner(*rrl);
  for (int second = 4000; second < 4003; ++second) {
    const auto start = second_start(second);
    // Spread over the second; the fifth is still in.
    Tally tally;
    for (int i = 0; i < 50; ++i) {
      const Outcome outcome = runner.run(udp("www.example."), start + std::chrono::milliseconds(i * 15));
      tally.full += outcome.full();
      tally.dropped += !outcome.sent;
    }
    EXPECT_EQ(tally.full, 5) << second;
    EXPECT_EQ(tally.dropped, 45) << second;
  }
}

TEST(RrlLimits, SlipTruncatesEveryNthLimitedAnswerAndDropsTheOthers) {
  struct Case {
    int slip;
    int truncated;  // of 12 limited answers
  };
  const Case cases[] = {{0, 0}, {1, 12}, {2, 6}, {3, 4}, {5, 2}, {13, 0}};
  for (const auto& c : cases) {
    Fixture f;
    auto rrl = f.plugin("rate: 4\nslip: " + std::to_string(c.slip));
    Runner runner(*rrl);
    const auto at = second_start(5000);
    EXPECT_EQ(ask(runner, udp("www.example."), 4, at).full, 4);
    std::string pattern;
    for (int i = 0; i < 12; ++i) {
      const Outcome outcome = runner.run(udp("www.example."), at);
      pattern += !outcome.sent ? 'd' : outcome.truncated ? 't' : 'F';
      if (outcome.truncated) {
        EXPECT_EQ(outcome.answers, 0);  // TC=1 and no records; the rcode stays
        EXPECT_EQ(outcome.rcode, dns::Rcode::NoError);
      }
    }
    EXPECT_EQ(static_cast<int>(std::count(pattern.begin(), pattern.end(), 't')), c.truncated)
        << "slip " << c.slip << ": " << pattern;
    EXPECT_EQ(pattern.find('F'), std::string::npos) << pattern;
    if (c.slip == 3) {
      EXPECT_EQ(pattern, "ddtddtddtddt");
    }
  }
}

TEST(RrlLimits, ATruncatedReferralKeepsItsRcodeAndLosesItsRecords) {
  Fixture f;
  auto rrl = f.plugin("rate: 1\nslip: 1");
  Runner runner(*rrl);
  const auto at = second_start(5100);
  const Outcome first = runner.run(udp("sub.example."), at);
  EXPECT_TRUE(first.full());
  EXPECT_EQ(first.authority, 1);
  const Outcome second = runner.run(udp("nx.example."), at);
  EXPECT_TRUE(second.full());
  const Outcome slipped = runner.run(udp("nx2.example."), at);
  EXPECT_TRUE(slipped.sent && slipped.truncated);
  EXPECT_EQ(slipped.rcode, dns::Rcode::NXDomain);
  EXPECT_EQ(slipped.answers + slipped.authority, 0);
}

TEST(RrlSpares, TcpProvenExemptUnlimitedClassesAndDroppedAnswers) {
  Fixture f;
  auto rrl = f.plugin("rate: 1\nslip: 0\nrates: { referral: 0 }\nexempt: [198.51.100.0/24, \"2001:db8:1::/48\"]");
  Runner runner(*rrl);
  const auto at = second_start(6000);
  test::QuerySpec tcp = udp("www.example.");
  tcp.transport = dns::Transport::Tcp;
  EXPECT_EQ(ask(runner, tcp, 20, at).full, 20);
  EXPECT_EQ(ask(runner, udp("proven.example."), 20, at).full, 20);
  EXPECT_EQ(ask(runner, udp("www.example.", "198.51.100.99"), 20, at).full, 20);
  EXPECT_EQ(ask(runner, udp("www.example.", "::ffff:198.51.100.99"), 20, at).full, 20);
  EXPECT_EQ(ask(runner, udp("www.example.", "2001:db8:1:2::3"), 20, at).full, 20);
  EXPECT_EQ(ask(runner, udp("sub.example."), 20, at).full, 20);
  // An answer a plugin already dropped spends nothing: the client's budget is intact.
  EXPECT_EQ(ask(runner, udp("drop.example."), 20, at).dropped, 20);
  EXPECT_EQ(ask(runner, udp("nx.example."), 1, at).full, 1);
  // And the same client is limited over UDP without a cookie.
  EXPECT_EQ(ask(runner, udp("www.example."), 3, at).full, 1);
}

TEST(RrlLogOnly, SendsEverythingAndCountsWhatWouldBeLimited) {
  Fixture f;
  auto rrl = f.plugin("rate: 2\nlog_only: true");
  Runner runner(*rrl);
  const auto at = second_start(7000);
  EXPECT_EQ(ask(runner, udp("www.example."), 10, at).full, 10);
  EXPECT_EQ(ask(runner, udp("nx.example."), 5, at).full, 5);
  const std::string text = f.scrape();
  const std::string server = "server=\"127.0.0.1:5300\"";
  EXPECT_NE(text.find("stsd_rrl_limited_log_only_total{" + server + ",class=\"positive\"} 8\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("stsd_rrl_limited_log_only_total{" + server + ",class=\"nxdomain\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("stsd_rrl_dropped_total{" + server + ",class=\"positive\"} 0\n"), std::string::npos);
}

size_t occurrences(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

TEST(RrlLog, OneLineWhenABucketGoesOverItsRateInASecond) {
  Fixture f;
  auto rrl = f.plugin("rate: 2\nipv6_prefix: 48");
  Runner runner(*rrl);
  testing::internal::CaptureStderr();
  ask(runner, udp("www.example."), 10, second_start(9000));
  ask(runner, udp("www.example."), 10, second_start(9001));
  ask(runner, udp("nx9.example.", "2001:db8:1:2::3"), 3, second_start(9001));
  ask(runner, udp("www.example.", "192.0.2.2"), 2, second_start(9001));  // within the rate: no line
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(occurrences(log, "rrl: 192.0.2.0/24 positive www.example. over 2 answers/s: limited, slip 2\n"), 2u)
      << log;
  EXPECT_EQ(occurrences(log, "rrl: 2001:db8:1::/48 nxdomain over 2 answers/s: limited, slip 2\n"), 1u) << log;
  EXPECT_EQ(occurrences(log, "rrl: "), 3u) << log;
}

TEST(RrlMetrics, DroppedAndSlippedByClassSurviveAReload) {
  Fixture f;
  {
    auto rrl = f.plugin("rate: 1\nslip: 2");
    Runner runner(*rrl);
    const auto at = second_start(8000);
    ask(runner, udp("www.example."), 5, at);  // 1 passes, 4 limited: 2 dropped, 2 slipped
    ask(runner, udp("fail.example."), 4, at);  // 1 passes, 3 limited: 2 dropped, 1 slipped
  }
  auto reloaded = f.plugin("rate: 1\nslip: 0");  // the same server block, rebuilt by SIGHUP
  Runner runner(*reloaded);
  ask(runner, udp("nodata.example."), 3, second_start(8001));
  const std::string text = f.scrape();
  const std::string server = "server=\"127.0.0.1:5300\"";
  const char* expected[] = {
      "stsd_rrl_dropped_total{server=\"127.0.0.1:5300\",class=\"positive\"} 2\n",
      "stsd_rrl_slipped_total{server=\"127.0.0.1:5300\",class=\"positive\"} 2\n",
      "stsd_rrl_dropped_total{server=\"127.0.0.1:5300\",class=\"error\"} 2\n",
      "stsd_rrl_slipped_total{server=\"127.0.0.1:5300\",class=\"error\"} 1\n",
      "stsd_rrl_dropped_total{server=\"127.0.0.1:5300\",class=\"nodata\"} 2\n",
      "stsd_rrl_slipped_total{server=\"127.0.0.1:5300\",class=\"nxdomain\"} 0\n",
  };
  for (const char* line : expected) EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

}  // namespace
