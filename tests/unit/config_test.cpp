#include "config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "registry.h"
#include "server/runtime.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace stsd;

namespace {
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { register_all_plugins(registry_); }
  fs::path write(const std::string& text) {
    auto path = dir_.path() / "stsd.yaml";
    std::ofstream(path) << text;
    return path;
  }
  // Loads like `stsd --check-config` does; returns the error or "".
  std::string load(const std::string& text) {
    try {
      auto root = load_config_file(write(text));
      auto settings = parse_core_settings(root, registry_);
      Environment env(dir_.path(), settings.storage, nullptr, true);
      PendingLoad load;
      build_server_blocks(root, registry_, env, load);
      build_services(root, registry_, env);
      return "";
    } catch (const ConfigError& e) {
      return e.what();
    }
  }
  test::TempDir dir_{"config"};
  Registry registry_;
};
}  // namespace

TEST_F(ConfigTest, MinimalIsValid) {
  EXPECT_EQ(load("servers:\n  - listen: [\"127.0.0.1:5300\", \"[::1]:5300\"]\n    plugins:\n      log: {}\n"), "");
}

TEST_F(ConfigTest, UnknownTopLevelKeyNamesLine) {
  auto error = load("servers:\n  - listen: 127.0.0.1:5300\n    plugins: {log: {}}\nbogus: 1\n");
  EXPECT_NE(error.find("stsd.yaml:4"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown top-level key 'bogus'"), std::string::npos) << error;
}

TEST_F(ConfigTest, UnknownPluginNamesLine) {
  auto error = load("servers:\n  - listen: 127.0.0.1:5300\n    plugins:\n      nosuch: {}\n");
  EXPECT_NE(error.find("stsd.yaml:4"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown plugin 'nosuch'"), std::string::npos) << error;
}

TEST_F(ConfigTest, UnknownServerKey) {
  auto error = load("servers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n    extra: 1\n");
  EXPECT_NE(error.find("unknown key 'extra'"), std::string::npos) << error;
  EXPECT_NE(error.find(":4:"), std::string::npos) << error;
}

TEST_F(ConfigTest, BadListenAddress) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:0", "::1:53", "nohost:53", "127.0.0.1:70000"}) {
    auto error = load(std::string("servers:\n  - listen: \"") + bad + "\"\n    plugins: {}\n");
    EXPECT_NE(error.find("is not ADDRESS:PORT"), std::string::npos) << bad << ": " << error;
  }
}

TEST_F(ConfigTest, DuplicateListenAcrossBlocks) {
  auto error =
      load("servers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n  - listen: 127.0.0.1:5300\n    plugins: {}\n");
  EXPECT_NE(error.find("already used"), std::string::npos) << error;
}

TEST_F(ConfigTest, YamlSyntaxErrorNamesLine) {
  auto error = load("servers:\n  - listen: [127.0.0.1:5300\n    plugins: {}\n");
  EXPECT_NE(error.find("YAML syntax error"), std::string::npos) << error;
  EXPECT_NE(error.find("stsd.yaml:"), std::string::npos) << error;
}

// yaml-cpp keeps a repeated key and lookups find the first; the loader refuses it in
// every map at every depth, naming the repeat's line, the first line and the key path.
TEST_F(ConfigTest, DuplicateKeysAreRefusedNamingBothLines) {
  const std::string server = "servers:\n  - listen: 127.0.0.1:5300\n    plugins: {log: {}}\n";
  struct Case {
    const char* name;
    std::string text;
    std::string expected;  // a part of the error
  };
  const Case cases[] = {
      {"top level", "workers: 1\nworkers: 3\n" + server,
       "stsd.yaml:2:1: workers: duplicate key 'workers' (first on line 1)"},
      {"servers twice", server + "servers:\n  - listen: 127.0.0.1:5301\n    plugins: {}\n",
       "stsd.yaml:4:1: servers: duplicate key 'servers' (first on line 1)"},
      {"in a list item", "servers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n    listen: 127.0.0.1:5301\n",
       "stsd.yaml:4:5: servers[0].listen: duplicate key 'listen' (first on line 2)"},
      {"in a plugin's section",
       "servers:\n  - listen: 127.0.0.1:5300\n    plugins:\n      file:\n        - zone: a.test.\n"
       "          path: a.zone\n          path: b.zone\n",
       "stsd.yaml:7:11: servers[0].plugins.file[0].path: duplicate key 'path' (first on line 6)"},
      {"a plugin twice", "servers:\n  - listen: 127.0.0.1:5300\n    plugins:\n      log: {}\n      log: {}\n",
       "stsd.yaml:5:7: servers[0].plugins.log: duplicate key 'log' (first on line 4)"},
      {"in a service's section", "tcp:\n  idle_timeout: 5s\n  idle_timeout: 9s\n" + server,
       "stsd.yaml:3:3: tcp.idle_timeout: duplicate key 'idle_timeout' (first on line 2)"},
      {"flow style, quoted", "tcp: {max_connections: 5, \"max_connections\": 6}\n" + server,
       "tcp.max_connections: duplicate key 'max_connections' (first on line 1)"},
      {"second list item", "servers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n  - listen: 127.0.0.1:5301\n"
       "    plugins: {}\n    plugins: {}\n",
       "stsd.yaml:6:5: servers[1].plugins: duplicate key 'plugins' (first on line 5)"},
  };
  for (const auto& c : cases) {
    const auto error = load(c.text);
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.name << ": " << error;
  }
}

TEST_F(ConfigTest, SameKeyInDifferentMapsAndAliasesAreNotDuplicates) {
  EXPECT_EQ(load("servers:\n  - listen: 127.0.0.1:5300\n    plugins: {log: {}}\n"
                 "  - listen: 127.0.0.1:5301\n    plugins: {log: {}}\n"),
            "");
  EXPECT_EQ(load("tcp: &limits {max_connections: 5}\nservers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n"), "");
  // Aliases are not expanded by the check: a "billion laughs" document costs one pass.
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 30; ++i) {
    const std::string name = std::string("a").append(std::to_string(i));
    const std::string previous = std::string("*a").append(std::to_string(i - 1));
    laughs.append(name).append(": &").append(name).append(" [").append(previous);
    for (int j = 1; j < 10; ++j) laughs.append(", ").append(previous);
    laughs.append("]\n");
  }
  const auto error = load(laughs + "a0: again\n");
  EXPECT_NE(error.find("stsd.yaml:31:1: a0: duplicate key 'a0' (first on line 1)"), std::string::npos) << error;
}

TEST_F(ConfigTest, CoreSettingsValidated) {
  EXPECT_NE(load("workers: 0\nservers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n").find("out of range"),
            std::string::npos);
  EXPECT_NE(load("udp_size: 100\nservers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n").find("out of range"),
            std::string::npos);
  EXPECT_NE(load("tcp: {idle_timeout: soon}\nservers:\n  - listen: 127.0.0.1:5300\n    plugins: {}\n")
                .find("expected a duration"),
            std::string::npos);
  EXPECT_EQ(load("tcp: {idle_timeout: 30s, max_connections: 10}\nworkers: 2\nservers:\n  - listen: 127.0.0.1:5300\n"
                 "    plugins: {}\n"),
            "");
}

TEST_F(ConfigTest, NsidIsTextOrHex) {
  auto block = [](const std::string& nsid) {
    return "servers:\n  - listen: 127.0.0.1:5300\n    nsid: " + nsid + "\n    plugins: {log: {}}\n";
  };
  EXPECT_EQ(load(block("ns1.fra")), "");
  EXPECT_EQ(load(block("\"0x6e7331\"")), "");
  const struct {
    std::string nsid, error;
  } refused[] = {
      {"\"0x6e733\"", "odd number of digits"},
      {"\"0x6e7g31\"", "non-hex digit at position 5"},
      {"\"\"", "NSID is empty"},
      {std::string(129, 'a'), "at most 128"},
  };
  for (const auto& test : refused) {
    const auto error = load(block(test.nsid));
    EXPECT_NE(error.find(test.error), std::string::npos) << test.nsid << ": " << error;
    EXPECT_NE(error.find("stsd.yaml:3"), std::string::npos) << error;
  }
}

TEST_F(ConfigTest, MissingServers) {
  EXPECT_NE(load("storage: var/db\n").find("missing required key 'servers'"), std::string::npos);
}

TEST(Duration, Units) {
  EXPECT_EQ(parse_duration("30")->count(), 30);
  EXPECT_EQ(parse_duration("5m")->count(), 300);
  EXPECT_EQ(parse_duration("1h")->count(), 3600);
  EXPECT_EQ(parse_duration("1d")->count(), 86400);
  EXPECT_FALSE(parse_duration("1w"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("-1s"));
}
