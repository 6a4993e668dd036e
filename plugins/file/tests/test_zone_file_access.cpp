// What a zone may read: $INCLUDE stays in the zone file's folder (or the zone's
// include_folders), only regular files are read and never a FIFO or a device, the zone's
// files together stay under max_bytes, and an error never quotes a file other users
// cannot read (stsd runs as root; its log and --check-config output are not secret).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "file_plugin.h"
#include "plugin_test_support.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace stsd;

namespace {

const std::string kHead =
    "$TTL 3600\n"
    "@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n"
    "@ IN NS ns1\n"
    "ns1 A 192.0.2.1\n";
const std::string kMarker = "SECRET-MARKER-4242";

class ZoneFileAccess : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dir_.path() / "zones"); }

  void write(const std::string& name, const std::string& content, fs::perms mode = fs::perms(0644)) {
    std::ofstream(dir_.path() / name, std::ios::binary) << content;
    fs::permissions(dir_.path() / name, mode);
  }

  // The error loading zones/example.zone with `extra` config lines, "" when it loads.
  std::string load_error(const std::string& extra = "") {
    test::SetupFixture fixture;
    const auto config = test::yaml_node("- zone: example.org.\n  path: zones/example.zone\n" + extra, "file",
                                        dir_.path() / "stsd.yaml");
    auto setup = fixture.setup(config);
    try {
      file::make_file_plugin(setup);
    } catch (const ConfigError& error) {
      return error.what();
    }
    return "";
  }

  test::TempDir dir_{"zone-access"};
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(ZoneFileAccess, PrivateFileContentIsNeverQuoted) {
  const std::string bad_lines[] = {
      kMarker + ":$y$j9T$abc:19000:0:99999:7:::\n",  // an /etc/shadow line
      "www A " + kMarker + "\n",
      "$ORIGIN " + kMarker + "..\n",
      "$TTL " + kMarker + "\n",
      "$" + kMarker + "\n",
      "www 9" + kMarker + " A 192.0.2.1\n",
  };
  for (const auto& line : bad_lines) {
    write("zones/example.zone", kHead + line, fs::perms(0640));
    const std::string error = load_error();
    EXPECT_TRUE(contains(error, "zones/example.zone:5: ")) << error;
    EXPECT_FALSE(contains(error, kMarker)) << error;
    EXPECT_TRUE(contains(error, "content withheld")) << error;
    // The same file readable by all is quoted: the test would see a leak.
    fs::permissions(dir_.path() / "zones/example.zone", fs::perms(0644));
    EXPECT_TRUE(contains(load_error(), kMarker)) << line;
  }
}

TEST_F(ZoneFileAccess, QuotesAreEscapedAndCut) {
  write("zones/example.zone", kHead + "www A \x1b[2J" + std::string(200, 'x') + "\n");
  const std::string error = load_error();
  EXPECT_TRUE(contains(error, "www A \\x1b[2Jxxx")) << error;
  EXPECT_FALSE(contains(error, "\x1b")) << error;
  EXPECT_FALSE(contains(error, std::string(100, 'x'))) << error;
  EXPECT_TRUE(contains(error, "x...")) << error;
}

TEST_F(ZoneFileAccess, SymlinkOutOfTheZoneFolderIsRefused) {
  write("secret", kMarker + " A 192.0.2.9\n", fs::perms(0600));
  fs::create_symlink("../secret", dir_.path() / "zones" / "link.zone");
  fs::create_symlink("/etc/shadow", dir_.path() / "zones" / "shadow.zone");
  for (const std::string target : {"link.zone", "shadow.zone", "../secret", "/etc/shadow"}) {
    write("zones/example.zone", kHead + "$INCLUDE " + target + "\n");
    const std::string error = load_error();
    EXPECT_TRUE(contains(error, "zones/example.zone:5: $INCLUDE ")) << error;
    EXPECT_TRUE(contains(error, "outside " + (dir_.path() / "zones").string())) << error;
    EXPECT_FALSE(contains(error, kMarker)) << error;
    EXPECT_FALSE(contains(error, "root:")) << error;
  }
}

TEST_F(ZoneFileAccess, IncludeFoldersAllowMore) {
  fs::create_directories(dir_.path() / "shared");
  write("shared/common.zone", "mail A 192.0.2.25\n");
  write("zones/example.zone", kHead + "$INCLUDE ../shared/common.zone\n");
  EXPECT_TRUE(contains(load_error(), "outside"));
  EXPECT_EQ(load_error("  include_folders: [shared]\n"), "");
  // A symlink into an allowed folder is followed too.
  fs::create_symlink("../shared/common.zone", dir_.path() / "zones" / "common.zone");
  write("zones/example.zone", kHead + "$INCLUDE common.zone\n");
  EXPECT_EQ(load_error("  include_folders: [shared]\n"), "");
  // Subfolders of the zone's folder are inside it.
  fs::create_directories(dir_.path() / "zones" / "parts");
  write("zones/parts/www.zone", "www A 192.0.2.80\n");
  write("zones/example.zone", kHead + "$INCLUDE parts/www.zone\n");
  EXPECT_EQ(load_error(), "");
}

TEST_F(ZoneFileAccess, DevicesAndFifosAreRefusedAtOnce) {
  ASSERT_EQ(::mkfifo((dir_.path() / "zones" / "fifo.zone").c_str(), 0644), 0);
  struct Case {
    std::string zone_text;
    std::string extra;
    std::string reason;
  };
  const Case cases[] = {
      {kHead + "$INCLUDE /dev/zero\n", "  include_folders: [/dev]\n",
       "/dev/zero is a character device, not a regular file"},
      {kHead + "$INCLUDE fifo.zone\n", "", "fifo.zone is a FIFO, not a regular file"},
  };
  for (const auto& c : cases) {
    write("zones/example.zone", c.zone_text);
    const auto started = std::chrono::steady_clock::now();
    const std::string error = load_error(c.extra);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    EXPECT_TRUE(contains(error, "zones/example.zone:5: $INCLUDE ")) << error;
    EXPECT_TRUE(contains(error, c.reason)) << error;
  }
  // The zone file itself.
  fs::remove(dir_.path() / "zones" / "example.zone");
  ASSERT_EQ(::mkfifo((dir_.path() / "zones" / "example.zone").c_str(), 0644), 0);
  EXPECT_TRUE(contains(load_error(), "zones/example.zone: zone file is a FIFO"));
}

TEST_F(ZoneFileAccess, MaxBytesCountsEveryFileOfTheZone) {
  const std::string part = "; " + std::string(600, '-') + "\nwww A 192.0.2.80\n";
  write("zones/part.zone", part);
  write("zones/example.zone", kHead + "$INCLUDE part.zone\n");
  EXPECT_EQ(load_error("  max_bytes: 1024\n"), "");
  // The same file twice (no loop): its bytes count twice.
  write("zones/example.zone", kHead + "$INCLUDE part.zone\n$INCLUDE part.zone\n");
  const std::string error = load_error("  max_bytes: 1024\n");
  EXPECT_TRUE(contains(error, "zones/example.zone:6: $INCLUDE")) << error;
  EXPECT_TRUE(contains(error, "above max_bytes (1024 bytes)")) << error;
  // The zone file alone.
  write("zones/example.zone", kHead + std::string(1100, ';') + "\n");
  EXPECT_TRUE(contains(load_error("  max_bytes: 1024\n"), "zones/example.zone: zone file takes"));
}

}  // namespace
