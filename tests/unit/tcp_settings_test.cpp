// The DNS TCP settings: tcp.idle_timeout, tcp.io_timeout, tcp.max_connections, and the cap
// the open-file limit allows (server/descriptor_budget.h).
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <memory>

#include "registry.h"
#include "server/descriptor_budget.h"
#include "server/runtime.h"

using namespace stsd;

namespace {

CoreSettings parse(const std::string& tcp_section) {
  const auto yaml = YAML::Load(tcp_section + "servers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n");
  Registry registry;
  return parse_core_settings(ConfigNode(yaml, std::make_shared<const std::filesystem::path>("stsd.yaml"), ""),
                             registry);
}

std::string parse_error(const std::string& tcp_section) {
  try {
    parse(tcp_section);
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

TEST(TcpSettings, Defaults) {
  const auto settings = parse("");
  EXPECT_EQ(settings.tcp_idle_timeout.count(), 10);
  EXPECT_EQ(settings.tcp_io_timeout.count(), 2);
  EXPECT_FALSE(settings.tcp_max_connections.has_value());
}

TEST(TcpSettings, ReadFromTheTcpSection) {
  const auto settings = parse("tcp: {idle_timeout: 30s, io_timeout: 5s, max_connections: 10}\n");
  EXPECT_EQ(settings.tcp_idle_timeout.count(), 30);
  EXPECT_EQ(settings.tcp_io_timeout.count(), 5);
  EXPECT_EQ(settings.tcp_max_connections, 10u);
}

TEST(TcpSettings, Refused) {
  struct Case {
    const char* section;
    const char* error;
  };
  for (const Case& c : {
           Case{"tcp: {io_timeout: 0}\n", "tcp.io_timeout: must be at least 1s"},
           Case{"tcp: {io_timeout: soon}\n", "expected a duration"},
           Case{"tcp: {idle_timeout: 0}\n", "tcp.idle_timeout: must be at least 1s"},
           Case{"tcp: {max_connections: 0}\n", "out of range"},
           Case{"tcp: {read_timeout: 2s}\n", "unknown key 'read_timeout'"},
       })
    EXPECT_NE(parse_error(c.section).find(c.error), std::string::npos) << c.section << " -> " << parse_error(c.section);
}

TEST(DescriptorBudget, CapSizedFromTheLimit) {
  struct Case {
    uint64_t limit;
    unsigned workers;
    size_t addresses;
    std::optional<size_t> configured;
    size_t connections;
  };
  // Held: 64 + workers * (3 + 2 * addresses); DNS TCP gets half of the rest.
  for (const Case& c : {
           Case{1 << 20, 2, 2, std::nullopt, 1024},  // a raised limit: the default stands
           Case{1 << 20, 2, 2, 100000, 100000},      // and a larger configured cap too
           Case{1024, 2, 2, std::nullopt, 473},      // systemd's soft limit, not raised: (1024 - 78) / 2
           Case{256, 2, 1, std::nullopt, 91},        // (256 - 74) / 2
           Case{256, 2, 1, 50, 50},                  // a cap that fits is kept
           Case{4096, 16, 4, std::nullopt, 1024},    // (4096 - 240) / 2 = 1928: the default stands
           Case{64, 2, 2, std::nullopt, 1},          // nothing left: one connection, never zero
       }) {
    const auto cap = size_tcp_connection_cap(c.limit, c.workers, c.addresses, c.configured);
    EXPECT_EQ(cap.connections, c.connections) << "limit " << c.limit;
    EXPECT_EQ(cap.lowered(), cap.connections < c.configured.value_or(kDefaultTcpMaxConnections));
  }
}

TEST(DescriptorBudget, LogLineSaysWhatWasChosen) {
  const auto raised = describe_descriptor_budget({.before = 1024, .soft = 524288, .hard = 524288, .error = ""},
                                                 size_tcp_connection_cap(524288, 2, 2, std::nullopt));
  EXPECT_EQ(raised, "open files: limit 524288 (raised from 1024); DNS over TCP: at most 1024 connections");
  const auto lowered = describe_descriptor_budget({.before = 256, .soft = 256, .hard = 256, .error = ""},
                                                  size_tcp_connection_cap(256, 2, 1, std::nullopt));
  EXPECT_NE(lowered.find("open files: limit 256 (the hard limit); DNS over TCP: at most 91 connections, not "
                         "tcp.max_connections' 1024"),
            std::string::npos)
      << lowered;
  EXPECT_NE(lowered.find("LimitNOFILE"), std::string::npos) << lowered;
}

TEST(DescriptorBudget, RaisesTheSoftLimitToTheHardOne) {
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  rlimit lowered{std::min<rlim_t>(original.rlim_max, 256), original.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  const auto limit = raise_open_file_limit();
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  ::setrlimit(RLIMIT_NOFILE, &original);
  EXPECT_EQ(limit.before, lowered.rlim_cur);
  EXPECT_EQ(limit.soft, std::min<uint64_t>(original.rlim_max, kRaisedLimitCeiling));
  EXPECT_EQ(now.rlim_cur, limit.soft);
  EXPECT_TRUE(limit.error.empty()) << limit.error;
}

}  // namespace
