#include "temp_dir.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

namespace stsd::test {

TempDir::TempDir(std::string_view purpose) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / ("stsd-" + std::string(purpose) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::fresh_path(std::string_view name) const {
  std::filesystem::path path = path_ / name;
  std::error_code error;
  if (std::filesystem::symlink_status(path, error).type() != std::filesystem::file_type::not_found) {
    throw std::logic_error("TempDir::fresh_path: " + path.string() + " exists already");
  }
  return path;
}

}  // namespace stsd::test
