#include "config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <cerrno>
#include <cstring>

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

ConfigNode load_config_file(const std::filesystem::path& path) {
  auto file = std::make_shared<const std::filesystem::path>(path);
  std::ifstream in(path);
  if (!in) throw ConfigError(path.string() + ": cannot open: " + std::strerror(errno));
  try {
    YAML::Node root = YAML::Load(in);
    return ConfigNode(root, file, "");
  } catch (const YAML::Exception& e) {
    throw ConfigError(path.string() + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": YAML syntax error: " + e.msg);
  }
}

}  // namespace stsd
