#include "config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "registry.h"
#include "server/runtime.h"

namespace fs = std::filesystem;
using namespace stsd;

namespace {
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stsd-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    register_all_plugins(registry_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& text) {
    auto path = dir_ / "stsd.yaml";
    std::ofstream(path) << text;
    return path;
  }
  // Loads like `stsd --check-config` does; returns the error or "".
  std::string load(const std::string& text) {
    try {
      auto root = load_config_file(write(text));
      auto settings = parse_core_settings(root, registry_);
      Environment env(dir_, settings.storage, nullptr, true);
      PendingLoad load;
      build_server_blocks(root, registry_, env, load);
      build_services(root, registry_, env);
      return "";
    } catch (const ConfigError& e) {
      return e.what();
    }
  }
  fs::path dir_;
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
