// Reading a maildir once: new/ and unseen cur/ messages, and marking them seen.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "maildir.h"
#include "temp_dir.h"

namespace stsctl {
namespace {

namespace fs = std::filesystem;

void touch(const fs::path& path) { std::ofstream(path) << "x"; }

std::vector<std::string> names(const std::vector<MaildirMessage>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) out.push_back(m.path.parent_path().filename().string() + "/" + m.path.filename().string());
  return out;
}

TEST(Maildir, WaitingMessagesAndMarkingSeen) {
  stsd::test::TempDir dir("maildir");
  const fs::path root = dir.path();
  for (const char* sub : {"new", "cur", "tmp"}) fs::create_directory(root / sub);
  touch(root / "new/1700000002.M2P9.host");
  touch(root / "new/.1700000009.tmpfile");
  touch(root / "cur/1700000001.M1P9.host:2,");
  touch(root / "cur/1700000003.M3P9.host:2,RS");  // seen: skipped
  touch(root / "cur/1700000004.M4P9.host:2,FT");
  touch(root / "tmp/1700000005.M5P9.host");  // being delivered: never read
  fs::create_directory(root / "new/folder");

  auto waiting = waiting_messages(root);
  EXPECT_EQ(names(waiting), (std::vector<std::string>{"cur/1700000001.M1P9.host:2,", "new/1700000002.M2P9.host",
                                                      "cur/1700000004.M4P9.host:2,FT"}));
  EXPECT_EQ(mark_seen(root, waiting[0]), root / "cur/1700000001.M1P9.host:2,S");
  EXPECT_EQ(mark_seen(root, waiting[1]), root / "cur/1700000002.M2P9.host:2,S");
  EXPECT_EQ(mark_seen(root, waiting[2]), root / "cur/1700000004.M4P9.host:2,FST");
  EXPECT_TRUE(waiting_messages(root).empty());
  // Gone since it was listed (another reader took it): the error names both paths.
  try {
    mark_seen(root, waiting[0]);
    ADD_FAILURE() << "moved a message that is not there";
  } catch (const MaildirError& error) {
    EXPECT_NE(std::string(error.what()).find("1700000001.M1P9.host:2,"), std::string::npos) << error.what();
  }
}

TEST(Maildir, NotAMaildir) {
  stsd::test::TempDir dir("maildir");
  fs::create_directory(dir.path() / "new");
  try {
    waiting_messages(dir.path());
    ADD_FAILURE() << "accepted";
  } catch (const MaildirError& error) {
    EXPECT_NE(std::string(error.what()).find("is not a maildir: it has no cur/ folder"), std::string::npos);
  }
}

TEST(Maildir, Flags) {
  EXPECT_EQ(maildir_flags("1.M1.host:2,RS"), "RS");
  EXPECT_EQ(maildir_flags("1.M1.host:2,"), "");
  EXPECT_EQ(maildir_flags("1.M1.host"), std::nullopt);
}

}  // namespace
}  // namespace stsctl
