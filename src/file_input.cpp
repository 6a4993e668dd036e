#include "file_input.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace stsd {
namespace fs = std::filesystem;

namespace {

std::string message_for(InputRefusal refusal, const fs::path& path, const std::string& detail, int line) {
  std::string message = path.string();
  if (refusal == InputRefusal::NulByte && line > 0) message.append(":").append(std::to_string(line));
  return message.append(": ").append(detail);
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// What a file that is not a regular file is, for "is a FIFO, not a regular file".
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Every symlink resolved; a missing file or a dangling symlink says which it is.
fs::path resolve(const fs::path& path) {
  std::error_code error;
  fs::path resolved = fs::canonical(path, error);
  if (!error) return resolved;
  std::error_code link_error;
  if (fs::is_symlink(fs::symlink_status(path, link_error))) {
    const fs::path target = fs::read_symlink(path, link_error);
    throw InputFileError(InputRefusal::Missing, path,
                         "is a symlink to " + target.string() + ", which " +
                             (error == std::errc::no_such_file_or_directory ? "does not exist" : error.message()));
  }
  if (error == std::errc::no_such_file_or_directory)
    throw InputFileError(InputRefusal::Missing, path, "does not exist");
  throw InputFileError(InputRefusal::Unreadable, path, "cannot be resolved: " + error.message());
}

void check_confinement(const fs::path& path, const fs::path& resolved, const std::vector<fs::path>& folders) {
  if (folders.empty()) return;
  std::string names;
  for (const auto& folder : folders) {
    std::error_code error;
    const fs::path resolved_folder = fs::canonical(folder, error);
    if (!error && path_is_inside(resolved, resolved_folder)) return;
    names += (names.empty() ? "" : ", ") + folder.lexically_normal().string();
  }
  const bool through_link = resolved != fs::absolute(path).lexically_normal();
  throw InputFileError(
      InputRefusal::Outside, path,
      (through_link ? "resolves to " + resolved.string() + ", which is" : std::string("is")) + " outside " + names);
}

// ssh's rule for authorized_keys: nobody but the owner may change the secret, and the
// owner is root or the user who reads it.
void check_secret(const fs::path& path, const struct stat& info) {
  if (info.st_mode & (S_IWGRP | S_IWOTH))
    throw InputFileError(InputRefusal::Permissions, path,
                         "is writable by group or others (mode " + octal_mode(info.st_mode) +
                             "); a secret must not be: chmod go-w " + path.string());
  if (info.st_uid != 0 && info.st_uid != ::geteuid())
    throw InputFileError(InputRefusal::Permissions, path,
                         "belongs to uid " + std::to_string(info.st_uid) +
                             ", neither root nor the user reading it (uid " + std::to_string(::geteuid()) + ")");
}

std::string read_all(const fs::path& path, int fd, uint64_t max_bytes) {
  std::string content;
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      throw InputFileError(InputRefusal::Unreadable, path, std::string("cannot read: ") + std::strerror(errno));
    if (got == 0) return content;
    // Sizes from stat can lie (files under /proc, a file still growing): the cap holds
    // for what is read.
    if (content.size() + static_cast<size_t>(got) > max_bytes)
      throw InputFileError(InputRefusal::TooLarge, path,
                           "is larger than the limit of " + std::to_string(max_bytes) + " bytes");
    content.append(buffer, static_cast<size_t>(got));
  }
}

void check_no_nul(const fs::path& path, const std::string& content) {
  const size_t nul = content.find('\0');
  if (nul == std::string::npos) return;
  const int line = 1 + static_cast<int>(std::count(content.begin(), content.begin() + static_cast<long>(nul), '\n'));
  const size_t line_start = content.rfind('\n', nul);
  const size_t column = nul - (line_start == std::string::npos ? 0 : line_start + 1) + 1;
  throw InputFileError(InputRefusal::NulByte, path,
                       "NUL byte at column " + std::to_string(column) + "; a text file was expected", line);
}

}  // namespace

InputFileError::InputFileError(InputRefusal refusal, const fs::path& path, std::string detail, int line)
    : std::runtime_error(message_for(refusal, path, detail, line)),
      refusal_(refusal),
      detail_(std::move(detail)),
      line_(line) {}

std::string quote_input(std::string_view fragment, bool others_may_read) {
  return others_may_read ? input_excerpt(fragment) : std::string(kContentWithheld);
}

std::string input_excerpt(std::string_view text, size_t max_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    char escaped[4];
    size_t length = 1;
    if (byte == '\t') {
      escaped[0] = '\\', escaped[1] = 't', length = 2;
    } else if (byte < 0x20 || byte >= 0x7f) {
      escaped[0] = '\\', escaped[1] = 'x', escaped[2] = kHex[byte >> 4], escaped[3] = kHex[byte & 0xf], length = 4;
    } else {
      escaped[0] = c;
    }
    if (out.size() + length > max_chars) return out + "...";
    out.append(escaped, length);
  }
  return out;
}

bool path_is_inside(const fs::path& path, const fs::path& folder) {
  auto inner = path.begin();
  for (auto outer = folder.begin(); outer != folder.end(); ++outer, ++inner) {
    if (outer->empty()) continue;  // the trailing "" of "dir/"
    if (inner == path.end() || *inner != *outer) return false;
  }
  return true;
}

InputFile read_input_file(const fs::path& path, const InputFileRules& rules) {
  InputFile file;
  file.path = path;
  file.resolved = resolve(path);
  check_confinement(path, file.resolved, rules.confine_to);

  // The type is checked before open: opening a device or a FIFO can block or have effects.
  struct stat before {};
  if (::stat(file.resolved.c_str(), &before) != 0)
    throw InputFileError(InputRefusal::Unreadable, path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(before.st_mode))
    throw InputFileError(InputRefusal::NotRegular, path,
                         std::string("is ") + kind_of(before.st_mode) + ", not a regular file");

  // O_NONBLOCK: should a FIFO replace the file between stat and open, open returns at once
  // (and fstat refuses it). O_NOFOLLOW: what is opened is the resolved file, not a link
  // swapped in since.
  Descriptor fd(::open(file.resolved.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW));
  if (fd.get() < 0)
    throw InputFileError(InputRefusal::Unreadable, path, std::string("cannot open: ") + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0)
    throw InputFileError(InputRefusal::Unreadable, path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(info.st_mode))
    throw InputFileError(InputRefusal::NotRegular, path,
                         std::string("is ") + kind_of(info.st_mode) + ", not a regular file");
  if (rules.secret) check_secret(path, info);
  if (static_cast<uint64_t>(info.st_size) > rules.max_bytes)
    throw InputFileError(InputRefusal::TooLarge, path,
                         "is " + std::to_string(info.st_size) + " bytes, above the limit of " +
                             std::to_string(rules.max_bytes) + " bytes");

  file.content = read_all(path, fd.get(), rules.max_bytes);
  if (rules.text) check_no_nul(path, file.content);
  file.others_may_read = (info.st_mode & S_IROTH) != 0;
  return file;
}

}  // namespace stsd
