#pragma once
// A folder of a test's own under the system's temp folder, removed with all it holds when
// the test is done. Whatever must create its folder itself (Database::open refuses some
// existing folders, a backup's target, a socket) gets a path inside it where nothing is
// yet: `dir.fresh_path("store")`.
#include <filesystem>
#include <string_view>

namespace stsd::test {

class TempDir {
 public:
  // Named stsd-<purpose>-XXXXXX by mkdtemp(3): created atomically, so the test processes
  // ctest runs side by side never share one.
  explicit TempDir(std::string_view purpose = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, where nothing exists yet (throws std::logic_error otherwise, e.g. when
  // two parts of a test ask for the same name).
  std::filesystem::path fresh_path(std::string_view name) const;

 private:
  std::filesystem::path path_;
};

}  // namespace stsd::test
