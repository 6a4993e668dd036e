// The tests' own folders (tests/support/temp_dir.h): each is new and distinct, removed with
// what it holds, and fresh_path names only what does not exist yet.
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace stsd::test {
namespace {

namespace fs = std::filesystem;

TEST(TempDir, EachIsANewFolderRemovedWithWhatItHolds) {
  fs::path first_path, second_path;
  {
    const TempDir first("temp-dir-test"), second("temp-dir-test");
    first_path = first.path();
    second_path = second.path();
    EXPECT_NE(first_path, second_path);
    EXPECT_TRUE(fs::is_directory(first_path));
    EXPECT_TRUE(fs::is_empty(first_path));
    EXPECT_TRUE(first_path.filename().string().starts_with("stsd-temp-dir-test-"));
    fs::create_directories(first_path / "a" / "b");
    std::ofstream(first_path / "a" / "b" / "file") << "x";
  }
  EXPECT_FALSE(fs::exists(first_path));
  EXPECT_FALSE(fs::exists(second_path));
}

TEST(TempDir, FreshPathNamesOnlyWhatDoesNotExistYet) {
  const TempDir dir;
  const fs::path store = dir.fresh_path("store");
  EXPECT_EQ(store, dir.path() / "store");
  EXPECT_FALSE(fs::exists(store));
  fs::create_directory(store);
  EXPECT_THROW(dir.fresh_path("store"), std::logic_error);
  fs::create_symlink("nowhere", dir.path() / "dangling");
  EXPECT_THROW(dir.fresh_path("dangling"), std::logic_error);
}

}  // namespace
}  // namespace stsd::test
