// Reading operator files (src/file_input.h): only regular files, never a hang on a FIFO,
// a size cap, symlinks kept inside their folder, secrets nobody else may change, no NUL
// bytes, and no content of a private file in a message.
#include "file_input.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>

#include <sys/stat.h>
#include <unistd.h>

#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace stsd;

namespace {

class InputFileTest : public ::testing::Test {
 public:
  void SetUp() override { fs::create_directories(dir_.path() / "inside"); }

  fs::path write(const std::string& name, const std::string& content, fs::perms mode = fs::perms(0644)) {
    const fs::path path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << content;
    fs::permissions(path, mode);
    return path;
  }

  // The refusal, or nullopt when the file was read.
  std::optional<InputFileError> refusal(const fs::path& path, const InputFileRules& rules = {}) {
    try {
      read_input_file(path, rules);
    } catch (const InputFileError& error) {
      return error;
    }
    return std::nullopt;
  }

  test::TempDir dir_{"input"};
};

TEST_F(InputFileTest, ReadsARegularFileWhole) {
  const auto path = write("zone", "line one\nline two\n");
  const InputFile file = read_input_file(path);
  EXPECT_EQ(file.content, "line one\nline two\n");
  EXPECT_EQ(file.resolved, fs::canonical(path));
  EXPECT_TRUE(file.others_may_read);
  EXPECT_EQ(file.quote("line one"), "line one");
}

TEST_F(InputFileTest, ContentOfAFileOthersCannotReadIsNeverQuoted) {
  const auto path = write("private", "SECRET-MARKER\n", fs::perms(0600));
  const InputFile file = read_input_file(path);
  EXPECT_FALSE(file.others_may_read);
  EXPECT_EQ(file.quote("SECRET-MARKER"), kContentWithheld);
  // Readable by the group only is still private.
  fs::permissions(path, fs::perms(0640));
  EXPECT_EQ(read_input_file(path).quote("SECRET-MARKER"), kContentWithheld);
}

InputFileRules capped_at(uint64_t max_bytes) {
  InputFileRules rules;
  rules.max_bytes = max_bytes;
  return rules;
}
InputFileRules secret() {
  InputFileRules rules;
  rules.secret = true;
  return rules;
}
InputFileRules binary() {
  InputFileRules rules;
  rules.text = false;
  return rules;
}
InputFileRules confined_to(std::vector<fs::path> folders) {
  InputFileRules rules;
  rules.confine_to = std::move(folders);
  return rules;
}

struct RefusedCase {
  const char* behaviour;
  std::function<fs::path(InputFileTest&, const fs::path& dir)> make;
  InputFileRules rules;
  InputRefusal refusal;
  const char* detail;               // a fragment of the message
  bool confined_to_inside = false;  // rules.confine_to = {<dir>/inside}
};

class InputFileRefusal : public InputFileTest, public ::testing::WithParamInterface<RefusedCase> {};

// One case a line, laid out by hand.
// clang-format off
const RefusedCase kRefused[] = {
    {"missing", [](InputFileTest&, const fs::path& dir) { return dir / "nothing"; }, {}, InputRefusal::Missing,
     "does not exist"},
    {"dangling_symlink",
     [](InputFileTest&, const fs::path& dir) {
       fs::create_symlink(dir / "gone", dir / "link.yaml");
       return dir / "link.yaml";
     },
     {}, InputRefusal::Missing, "which does not exist"},
    {"folder",
     [](InputFileTest&, const fs::path& dir) {
       fs::create_directory(dir / "x.yaml");
       return dir / "x.yaml";
     },
     {}, InputRefusal::NotRegular, "is a folder, not a regular file"},
    {"fifo",
     [](InputFileTest&, const fs::path& dir) {
       ::mkfifo((dir / "fifo").c_str(), 0644);
       return dir / "fifo";
     },
     {}, InputRefusal::NotRegular, "is a FIFO"},
    {"dev_zero", [](InputFileTest&, const fs::path&) { return fs::path("/dev/zero"); }, {}, InputRefusal::NotRegular,
     "is a character device"},
    {"symlink_to_dev_zero",
     [](InputFileTest&, const fs::path& dir) {
       fs::create_symlink("/dev/zero", dir / "zero");
       return dir / "zero";
     },
     {}, InputRefusal::NotRegular, "is a character device"},
    {"above_the_cap",
     [](InputFileTest& t, const fs::path&) { return t.write("big", std::string(11, 'x')); },
     capped_at(10), InputRefusal::TooLarge, "above the limit of 10 bytes"},
    {"symlink_out_of_its_folder",
     [](InputFileTest& t, const fs::path& dir) {
       t.write("outside", "x\n");
       fs::create_symlink(dir / "outside", dir / "inside" / "link");
       return dir / "inside" / "link";
     },
     {}, InputRefusal::Outside, "resolves to", true},
    {"dot_dot_out_of_its_folder",
     [](InputFileTest& t, const fs::path& dir) {
       t.write("outside", "x\n");
       return dir / "inside" / ".." / "outside";
     },
     {}, InputRefusal::Outside, "outside", true},
    {"nul_byte",
     [](InputFileTest& t, const fs::path&) { return t.write("nul", std::string("one\ntw\0o\n", 9)); }, {},
     InputRefusal::NulByte, "nul:2: NUL byte at column 3"},
    {"world_writable_secret",
     [](InputFileTest& t, const fs::path&) { return t.write("token", "0123456789abcdef\n", fs::perms(0666)); },
     secret(), InputRefusal::Permissions, "writable by group or others (mode 0666)"},
    {"group_writable_secret",
     [](InputFileTest& t, const fs::path&) { return t.write("token", "0123456789abcdef\n", fs::perms(0620)); },
     secret(), InputRefusal::Permissions, "(mode 0620)"},
};
// clang-format on

TEST_P(InputFileRefusal, IsRefusedWithTheReason) {
  RefusedCase c = GetParam();
  const fs::path path = c.make(*this, dir_.path());
  if (c.confined_to_inside) c.rules.confine_to = {dir_.path() / "inside"};
  const auto started = std::chrono::steady_clock::now();
  const auto error = refusal(path, c.rules);
  ASSERT_TRUE(error) << "read";
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  EXPECT_EQ(error->refusal(), c.refusal) << error->what();
  EXPECT_NE(std::string(error->what()).find(c.detail), std::string::npos) << error->what();
  EXPECT_EQ(std::string(error->what()).rfind(path.string(), 0), 0u) << "the message starts with the path";
}

INSTANTIATE_TEST_SUITE_P(Input, InputFileRefusal, ::testing::ValuesIn(kRefused),
                         [](const auto& info) { return std::string(info.param.behaviour); });

TEST_F(InputFileTest, SymlinksInsideTheirFolderAreFollowed) {
  write("inside/target", "x\n");
  fs::create_directory(dir_.path() / "inside" / "sub");
  fs::create_symlink("../target", dir_.path() / "inside" / "sub" / "link");
  const InputFile file =
      read_input_file(dir_.path() / "inside" / "sub" / "link", confined_to({dir_.path() / "inside"}));
  EXPECT_EQ(file.content, "x\n");
  // A second allowed folder.
  const auto outside = write("outside", "y\n");
  EXPECT_EQ(read_input_file(outside, confined_to({dir_.path() / "inside", dir_.path()})).content, "y\n");
}

TEST_F(InputFileTest, SecretsOnlyTheOwnerMayChangeAreRead) {
  for (const auto mode : {0600, 0400, 0640, 0644}) {
    const auto path = write("token", "0123456789abcdef\n", fs::perms(mode));
    EXPECT_FALSE(refusal(path, secret())) << std::oct << mode;
  }
  // Not a secret: the modes do not matter.
  EXPECT_FALSE(refusal(write("zone", "x\n", fs::perms(0666))));
}

TEST_F(InputFileTest, SecretOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a file away needs root";
  const auto path = write("token", "0123456789abcdef\n", fs::perms(0600));
  ASSERT_EQ(::chown(path.c_str(), 12345, 12345), 0);
  const auto error = refusal(path, secret());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->refusal(), InputRefusal::Permissions);
  EXPECT_NE(std::string(error->what()).find("belongs to uid 12345"), std::string::npos) << error->what();
}

TEST_F(InputFileTest, ExactlyAtTheCapIsRead) {
  EXPECT_EQ(read_input_file(write("ten", std::string(10, 'x')), capped_at(10)).content.size(), 10u);
}

TEST_F(InputFileTest, BinaryFilesMayHoldNul) {
  EXPECT_EQ(read_input_file(write("bin", std::string("a\0b", 3)), binary()).content.size(), 3u);
}

struct ExcerptCase {
  std::string text;
  size_t max;
  std::string expected;
};

TEST(InputExcerpt, EscapesAndCuts) {
  const ExcerptCase cases[] = {
      {"www A 192.0.2.1", 80, "www A 192.0.2.1"},
      {"a\tb", 80, "a\\tb"},
      {"\x1b[31mred", 80, "\\x1b[31mred"},
      {"caf\xc3\xa9", 80, "caf\\xc3\\xa9"},
      {std::string("a\0b", 3), 80, "a\\x00b"},
      {"0123456789", 5, "01234..."},
      {"abc\x01", 5, "abc..."},  // an escape is never cut in half
      {"abcd", 4, "abcd"},
  };
  for (const auto& c : cases) EXPECT_EQ(input_excerpt(c.text, c.max), c.expected) << c.text;
}

TEST(PathIsInside, ComparesWholeComponents) {
  EXPECT_TRUE(path_is_inside("/a/b/c", "/a/b"));
  EXPECT_TRUE(path_is_inside("/a/b", "/a/b"));
  EXPECT_TRUE(path_is_inside("/a/b/c", "/a/b/"));
  EXPECT_TRUE(path_is_inside("/etc/shadow", "/"));
  EXPECT_FALSE(path_is_inside("/a/bc", "/a/b"));
  EXPECT_FALSE(path_is_inside("/a", "/a/b"));
  EXPECT_FALSE(path_is_inside("/etc/shadow", "/srv/zones"));
}

}  // namespace
