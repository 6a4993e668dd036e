#pragma once
// Reading the files an operator names in the config: zone files and what they
// $INCLUDE, the policies folder, token files. stsd usually runs as root, so reading a
// file must never turn into a way around file permissions or into a hang:
//  - only regular files are read (a folder, a FIFO or /dev/zero is refused before any
//    read), and the file is opened non-blocking, so a FIFO swapped in never hangs a
//    reload;
//  - a file larger than the cap is refused, so memory stays bounded;
//  - where the caller asks, the file (every symlink resolved) must lie inside given
//    folders;
//  - secrets (token files) must not be writable by group or others and must belong to
//    root or to the user stsd runs as, as ssh requires of authorized_keys;
//  - text files must not hold NUL bytes;
//  - error messages quote a file's content only when other users may read the file:
//    the log and `--check-config` output must not leak a file other users cannot read
//    (`$INCLUDE /etc/shadow`).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stsd {

// Files read as a whole stay below this unless the caller says otherwise.
inline constexpr uint64_t kDefaultMaxInputFileBytes = 1024 * 1024;
// Excerpts of a file's content in error messages are cut to this many characters.
inline constexpr size_t kExcerptChars = 80;
// What an error message says instead of the content of a file other users cannot read.
inline constexpr std::string_view kContentWithheld = "(content withheld: the file is not readable by other users)";

enum class InputRefusal {
  Missing,      // does not exist, or a symlink to nothing
  NotRegular,   // a folder, FIFO, device or socket
  Outside,      // resolves outside the folders it is confined to
  TooLarge,     // above the size cap
  Permissions,  // a secret writable by group/others, or owned by another user
  NulByte,      // a NUL byte in a text file
  Unreadable,   // open or read failed (permissions, I/O)
};

// "<path>: <detail>", or "<path>:<line>: <detail>" for a NUL byte.
class InputFileError : public std::runtime_error {
 public:
  InputFileError(InputRefusal refusal, const std::filesystem::path& path, std::string detail, int line = 0);
  InputRefusal refusal() const { return refusal_; }
  // The reason without the path, for callers that name the file themselves.
  const std::string& detail() const { return detail_; }
  // The line at fault (NulByte), else 0.
  int line() const { return line_; }

 private:
  InputRefusal refusal_;
  std::string detail_;
  int line_;
};

// `fragment` of a file for a message: input_excerpt, or kContentWithheld unless other
// users may read the file.
std::string quote_input(std::string_view fragment, bool others_may_read);

struct InputFileRules {
  uint64_t max_bytes = kDefaultMaxInputFileBytes;
  // When not empty, the file with every symlink resolved must lie in one of these
  // folders (or below); the folders themselves are resolved too.
  std::vector<std::filesystem::path> confine_to;
  // A secret (a bearer token): refused when group or others may write it, or when it
  // belongs to neither root nor the user stsd runs as.
  bool secret = false;
  // A text file: a NUL byte is refused with its line.
  bool text = true;
};

struct InputFile {
  std::filesystem::path path;      // as given
  std::filesystem::path resolved;  // every symlink resolved
  std::string content;
  bool others_may_read = false;  // the mode grants read to others

  // `fragment` (a part of `content`) fit for an error message (quote_input).
  std::string quote(std::string_view fragment) const { return quote_input(fragment, others_may_read); }
};

// Reads `path` whole under `rules`. Throws InputFileError.
InputFile read_input_file(const std::filesystem::path& path, const InputFileRules& rules = {});

// Text from a file for a message: bytes outside printable ASCII become \xNN (\t for a
// tab) so a message stays one harmless line, cut to `max_chars` with "..." after.
std::string input_excerpt(std::string_view text, size_t max_chars = kExcerptChars);

// Whether `path` is `folder` or lies below it; both already resolved (canonical).
bool path_is_inside(const std::filesystem::path& path, const std::filesystem::path& folder);

}  // namespace stsd
