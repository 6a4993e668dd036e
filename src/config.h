#pragma once
// YAML config access with errors that name file, line and key. Plugins parse their
// section once, at load, into an immutable config object; nothing here is used on the
// query path.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace stsd {

// "file:line:column: message". Thrown while loading config; the CLI prints what().
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConfigNode {
 public:
  ConfigNode(YAML::Node node, std::shared_ptr<const std::filesystem::path> file, std::string key_path);

  // Errors carry "<file>:<line>:<col>: <key path>: <message>".
  [[noreturn]] void fail(std::string_view message) const;

  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool is_scalar() const { return node_.IsScalar(); }
  bool is_null() const { return node_.IsNull(); }
  int line() const { return node_.Mark().line + 1; }
  const std::string& key_path() const { return key_path_; }
  const std::filesystem::path& file() const { return *file_; }

  // Maps. `expect_map` fails unless this is a map (an empty value counts as {}) and
  // every key is in `allowed`; the error names the unknown key and its line.
  void expect_map(std::initializer_list<std::string_view> allowed) const;
  std::optional<ConfigNode> get(std::string_view key) const;
  ConfigNode require(std::string_view key) const;
  std::vector<std::string> keys() const;  // in file order

  // Sequences.
  size_t size() const { return node_.size(); }
  ConfigNode at(size_t index) const;
  std::vector<ConfigNode> items() const;  // a scalar counts as a list of one

  // Scalars.
  std::string as_string() const;
  bool as_bool() const;
  uint64_t as_uint(uint64_t min = 0, uint64_t max = UINT64_MAX) const;
  // "30", "30s", "5m", "1h", "1d" (a bare number is seconds).
  std::chrono::seconds as_duration() const;
  // Relative paths are taken from the config file's folder.
  std::filesystem::path as_path() const;
  std::vector<std::string> as_string_list() const;  // a scalar or a sequence of scalars

  // Convenience: value of an optional key or a default.
  std::string string_or(std::string_view key, std::string fallback) const;
  uint64_t uint_or(std::string_view key, uint64_t fallback, uint64_t min = 0, uint64_t max = UINT64_MAX) const;
  bool bool_or(std::string_view key, bool fallback) const;
  std::chrono::seconds duration_or(std::string_view key, std::chrono::seconds fallback) const;
  // The same, failing unless min <= value <= max.
  std::chrono::seconds duration_or(std::string_view key, std::chrono::seconds fallback, std::chrono::seconds min,
                                   std::chrono::seconds max) const;

  const YAML::Node& yaml() const { return node_; }

 private:
  YAML::Node node_;
  std::shared_ptr<const std::filesystem::path> file_;
  std::string key_path_;
};

// Parses "30s" etc.; nullopt when malformed. Shared by config and CLI parsing.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// Parses YAML `text` read from `path` (for a caller that read and checked the bytes
// itself). Syntax errors become ConfigError with file:line, and so does a key repeated in
// any map at any depth (naming the repeat's line and the first one's).
ConfigNode parse_config_text(const std::string& text, const std::filesystem::path& path);
// Reads the file and parses it as parse_config_text does.
ConfigNode load_config_file(const std::filesystem::path& path);

}  // namespace stsd
