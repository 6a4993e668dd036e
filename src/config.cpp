#include "config.h"

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_map>

#include <yaml-cpp/eventhandler.h>

namespace stsd {

ConfigNode::ConfigNode(YAML::Node node, std::shared_ptr<const std::filesystem::path> file, std::string key_path)
    : node_(std::move(node)), file_(std::move(file)), key_path_(std::move(key_path)) {}

void ConfigNode::fail(std::string_view message) const {
  std::ostringstream out;
  out << file_->string();
  const auto mark = node_.Mark();
  if (mark.line >= 0) out << ':' << mark.line + 1 << ':' << mark.column + 1;
  out << ": ";
  if (!key_path_.empty()) out << key_path_ << ": ";
  out << message;
  throw ConfigError(out.str());
}

void ConfigNode::expect_map(std::initializer_list<std::string_view> allowed) const {
  if (node_.IsNull()) return;
  if (!node_.IsMap()) fail("expected a map of keys");
  for (const auto& entry : node_) {
    const auto key = entry.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string known;
    for (auto k : allowed) known += (known.empty() ? "" : ", ") + std::string(k);
    ConfigNode(entry.first, file_, key_path_.empty() ? key : key_path_ + "." + key)
        .fail("unknown key '" + key + "'" + (known.empty() ? "" : " (known keys: " + known + ")"));
  }
}

std::optional<ConfigNode> ConfigNode::get(std::string_view key) const {
  if (!node_.IsMap()) return std::nullopt;
  for (const auto& entry : node_) {
    if (entry.first.Scalar() == key)
      return ConfigNode(entry.second, file_, key_path_.empty() ? std::string(key) : key_path_ + "." + std::string(key));
  }
  return std::nullopt;
}

ConfigNode ConfigNode::require(std::string_view key) const {
  auto value = get(key);
  if (!value) fail("missing required key '" + std::string(key) + "'");
  return *value;
}

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  if (node_.IsMap())
    for (const auto& entry : node_) out.push_back(entry.first.Scalar());
  return out;
}

ConfigNode ConfigNode::at(size_t index) const {
  return ConfigNode(node_[index], file_, key_path_ + "[" + std::to_string(index) + "]");
}

std::vector<ConfigNode> ConfigNode::items() const {
  std::vector<ConfigNode> out;
  if (node_.IsSequence()) {
    for (size_t i = 0; i < node_.size(); ++i) out.push_back(at(i));
  } else if (!node_.IsNull()) {
    out.push_back(*this);
  }
  return out;
}

std::string ConfigNode::as_string() const {
  if (!node_.IsScalar()) fail("expected a single value");
  return node_.Scalar();
}

bool ConfigNode::as_bool() const {
  const auto s = as_string();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  fail("expected true or false, got '" + s + "'");
}

uint64_t ConfigNode::as_uint(uint64_t min, uint64_t max) const {
  const auto s = as_string();
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) fail("expected a whole number, got '" + s + "'");
  if (value < min || value > max)
    fail("value " + s + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return value;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t multiplier = 1;
  switch (text.back()) {
    case 's':
      multiplier = 1;
      text.remove_suffix(1);
      break;
    case 'm':
      multiplier = 60;
      text.remove_suffix(1);
      break;
    case 'h':
      multiplier = 3600;
      text.remove_suffix(1);
      break;
    case 'd':
      multiplier = 86400;
      text.remove_suffix(1);
      break;
    default:
      break;
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value > UINT64_MAX / multiplier / 2) return std::nullopt;
  return std::chrono::seconds(static_cast<int64_t>(value * multiplier));
}

std::chrono::seconds ConfigNode::as_duration() const {
  const auto s = as_string();
  auto d = parse_duration(s);
  if (!d) fail("expected a duration such as 30s, 5m, 1h or 1d, got '" + s + "'");
  return *d;
}

std::filesystem::path ConfigNode::as_path() const {
  std::filesystem::path p = as_string();
  if (p.empty()) fail("expected a path");
  if (p.is_relative()) p = file_->parent_path() / p;
  return p.lexically_normal();
}

std::vector<std::string> ConfigNode::as_string_list() const {
  std::vector<std::string> out;
  for (const auto& item : items()) out.push_back(item.as_string());
  return out;
}

std::string ConfigNode::string_or(std::string_view key, std::string fallback) const {
  auto v = get(key);
  return v ? v->as_string() : std::move(fallback);
}
uint64_t ConfigNode::uint_or(std::string_view key, uint64_t fallback, uint64_t min, uint64_t max) const {
  auto v = get(key);
  return v ? v->as_uint(min, max) : fallback;
}
bool ConfigNode::bool_or(std::string_view key, bool fallback) const {
  auto v = get(key);
  return v ? v->as_bool() : fallback;
}
std::chrono::seconds ConfigNode::duration_or(std::string_view key, std::chrono::seconds fallback) const {
  auto v = get(key);
  return v ? v->as_duration() : fallback;
}

std::chrono::seconds ConfigNode::duration_or(std::string_view key, std::chrono::seconds fallback,
                                             std::chrono::seconds min, std::chrono::seconds max) const {
  auto node = get(key);
  if (!node) return fallback;
  const auto value = node->as_duration();
  if (value < min || value > max)
    node->fail("must be between " + std::to_string(min.count()) + "s and " + std::to_string(max.count()) + "s");
  return value;
}

namespace {

// YAML requires the keys of a mapping to be unique (YAML 1.2 §3.2.1.1), but yaml-cpp
// keeps every duplicate and lookups find the first: `workers: 1` then `workers: 3` would
// run one worker without a word. The node tree has lost the duplicates' places (and shares
// aliased nodes), so the check follows the parser's events instead: one pass over the text,
// aliases not expanded. Keys are compared as the scalars ConfigNode::get compares; a key
// that is itself a map, a list, an alias or null is not checked.
class DuplicateKeyCheck : public YAML::EventHandler {
 public:
  explicit DuplicateKeyCheck(const std::filesystem::path& file) : file_(file) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark, nullptr); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark, nullptr); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string& value) override {
    node(mark, &value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark, nullptr);
    frames_.emplace_back(false);
  }
  void OnSequenceEnd() override { frames_.pop_back(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark, nullptr);
    frames_.emplace_back(true);
  }
  void OnMapEnd() override { frames_.pop_back(); }

 private:
  // An open map or list: a map's nodes alternate key, value; a list counts its items.
  struct Frame {
    explicit Frame(bool is_map) : map(is_map) {}
    bool map;
    bool next_is_key = true;
    size_t items = 0;
    std::string key;                                   // the key whose value is being read
    std::unordered_map<std::string, int> first_line;  // key -> the line it first appeared on
  };

  // A node starts inside the innermost open map or list.
  void node(const YAML::Mark& mark, const std::string* scalar) {
    if (frames_.empty()) return;
    Frame& frame = frames_.back();
    if (!frame.map) {
      ++frame.items;
      return;
    }
    const bool is_key = frame.next_is_key;
    frame.next_is_key = !is_key;
    if (!is_key) return;
    frame.key = scalar ? *scalar : std::string("?");
    if (!scalar) return;
    const auto [first, fresh] = frame.first_line.emplace(*scalar, mark.line + 1);
    if (fresh) return;
    throw ConfigError(file_.string() + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) +
                      ": " + key_path() + ": duplicate key '" + *scalar + "' (first on line " +
                      std::to_string(first->second) + ")");
  }

  // The key path of the innermost map's current key, as ConfigNode names it
  // ("servers[0].plugins.file[0].path").
  std::string key_path() const {
    std::string path;
    for (const auto& frame : frames_) {
      if (frame.map)
        path += (path.empty() ? "" : ".") + frame.key;
      else
        path += "[" + std::to_string(frame.items - 1) + "]";
    }
    return path;
  }

  const std::filesystem::path& file_;
  std::vector<Frame> frames_;
};

}  // namespace

ConfigNode parse_config_text(const std::string& text, const std::filesystem::path& path) {
  try {
    YAML::Node root = YAML::Load(text);
    std::istringstream again(text);
    YAML::Parser parser(again);
    DuplicateKeyCheck duplicates(path);
    parser.HandleNextDocument(duplicates);
    return ConfigNode(root, std::make_shared<const std::filesystem::path>(path), "");
  } catch (const YAML::Exception& e) {
    throw ConfigError(path.string() + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": YAML syntax error: " + e.msg);
  }
}

ConfigNode load_config_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path.string() + ": cannot open: " + std::strerror(errno));
  return parse_config_text(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), path);
}

}  // namespace stsd
