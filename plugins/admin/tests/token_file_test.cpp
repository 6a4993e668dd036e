// Token files (admin.token_file, stsctl --token-file): a bearer token that someone else
// could rewrite is an open door, so a token file writable by group or others, or owned by
// another user, is refused as ssh refuses such authorized_keys; and only a regular file
// is read (a FIFO never hangs the reload).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin_config.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

const std::string kToken = "0123456789abcdef0123456789abcdef";

class TokenFile : public ::testing::Test {
 protected:
  void write(const std::string& text, int mode) {
    std::ofstream(path_) << text;
    fs::permissions(path_, fs::perms(mode));
  }
  // The error, or nullopt with the token read.
  std::optional<std::string> read() {
    std::string token;
    const std::string error = stsd::admin::read_token_file(path_, token);
    if (!error.empty()) return error;
    EXPECT_EQ(token, kToken);
    return std::nullopt;
  }
  stsd::test::TempDir dir_{"token"};
  const fs::path path_ = dir_.fresh_path("token");
};

TEST_F(TokenFile, OnlyItsOwnerMayWriteIt) {
  const struct {
    int mode;
    bool accepted;
  } cases[] = {{0600, true},  {0400, true},  {0640, true},  {0644, true},
               {0660, false}, {0620, false}, {0602, false}, {0666, false}};
  for (const auto& c : cases) {
    write(kToken + "\n", c.mode);
    const auto error = read();
    EXPECT_EQ(!error, c.accepted) << std::oct << c.mode << ": " << error.value_or("");
    if (error) {
      EXPECT_NE(error->find("token file " + path_.string() + ": is writable by group or others"), std::string::npos)
          << *error;
      EXPECT_NE(error->find("chmod go-w"), std::string::npos) << *error;
      EXPECT_EQ(error->find(kToken), std::string::npos) << "the token is never shown";
    }
  }
}

TEST_F(TokenFile, OwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a file away needs root";
  write(kToken + "\n", 0600);
  ASSERT_EQ(::chown(path_.c_str(), 4242, 4242), 0);
  const auto error = read();
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("belongs to uid 4242"), std::string::npos) << *error;
}

TEST_F(TokenFile, OnlyARegularFileIsRead) {
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  const auto error = read();
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("is a FIFO, not a regular file"), std::string::npos) << *error;
}

TEST_F(TokenFile, TheFirstLineIsTheToken) {
  write("  " + kToken + " \r\nsecond line\n", 0600);
  EXPECT_FALSE(read());
  write(kToken + "\n" + std::string(stsd::admin::kMaxTokenFileBytes, '#'), 0600);
  const auto error = read();
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("above the limit of 4096 bytes"), std::string::npos) << *error;
}

}  // namespace
