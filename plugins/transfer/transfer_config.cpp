#include "transfer_config.h"

#include <set>
#include <string>

#include "file_input.h"
#include "notify_key.h"

namespace stsd::transfer {

namespace {

// The sections whose values the process-wide tracker uses.
constexpr std::string_view kTrackerKeys[] = {"catalog", "poll", "journal_max_mib", "notify"};

std::string trimmed_first_line(const std::string& content) {
  const std::string line = content.substr(0, content.find('\n'));
  const size_t begin = line.find_first_not_of(" \t\r");
  const size_t end = line.find_last_not_of(" \t\r");
  return begin == std::string::npos ? std::string() : line.substr(begin, end - begin + 1);
}

// A key's secret, inline or from a file only root and stsd's user can write (the admin
// token file's rules: someone who can rewrite it can sign transfers).
std::vector<uint8_t> read_secret(const ConfigNode& entry) {
  auto inline_secret = entry.get("secret");
  auto secret_file = entry.get("secret_file");
  if (inline_secret && secret_file) entry.fail("give either `secret` or `secret_file`, not both");
  if (!inline_secret && !secret_file)
    entry.fail("a key needs `secret: <base64>` or `secret_file: <path>` (e.g. from `openssl rand -base64 32`)");
  std::string text;
  if (inline_secret) {
    text = inline_secret->as_string();
  } else {
    InputFileRules rules;
    rules.secret = true;
    rules.max_bytes = kMaxSecretFileBytes;
    try {
      text = trimmed_first_line(read_input_file(secret_file->as_path(), rules).content);
    } catch (const InputFileError& error) {
      secret_file->fail(std::string("secret file ") + error.what());
    }
  }
  auto secret = dns::tsig::decode_secret(text);
  if (!secret) (inline_secret ? *inline_secret : *secret_file).fail("the secret is not base64 (RFC 4648 §4) or is empty");
  return *secret;
}

std::vector<dns::tsig::Key> parse_keys(const ConfigNode& section) {
  std::vector<dns::tsig::Key> keys;
  if (!section.is_map()) section.fail("expected a map of key names, e.g. `xfr-key: {algorithm: hmac-sha256, secret: ...}`");
  for (const std::string& name : section.keys()) {
    const ConfigNode entry = section.require(name);
    entry.expect_map({"algorithm", "secret", "secret_file"});
    std::string text = name;
    if (text.empty() || text.back() != '.') text.push_back('.');
    auto key_name = dns::Name::from_text(text);
    if (!key_name || key_name->is_root()) entry.fail("'" + name + "' is not a domain name (a TSIG key is named like one)");
    dns::tsig::Key key;
    key.name = key_name->lowered();
    const ConfigNode algorithm = entry.require("algorithm");
    auto parsed = dns::tsig::algorithm_from_text(algorithm.as_string());
    if (!parsed)
      algorithm.fail("unknown algorithm '" + algorithm.as_string() +
                     "' (hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512)");
    key.algorithm = *parsed;
    key.secret = read_secret(entry);
    for (const auto& other : keys)
      if (other.name == key.name) entry.fail("key " + key.name.to_text() + " is listed twice");
    keys.push_back(std::move(key));
  }
  return keys;
}

std::vector<AllowRule> parse_allow(const ConfigNode& section, const std::vector<dns::tsig::Key>& keys) {
  if (!section.is_sequence()) section.fail("expected a list, e.g. `- {prefix: 192.0.2.0/24, key: xfr-key}`");
  std::vector<AllowRule> rules;
  for (const ConfigNode& item : section.items()) {
    item.expect_map({"prefix", "key"});
    const ConfigNode prefix_node = item.require("prefix");
    auto prefix = net::parse_prefix(prefix_node.as_string());
    if (!prefix) prefix_node.fail(net::prefix_refusal(prefix_node.as_string()));
    AllowRule rule{*prefix, std::nullopt};
    if (auto key_node = item.get("key")) {
      const dns::tsig::Key* key = find_key(keys, key_node->as_string());
      if (!key) key_node->fail("no key '" + key_node->as_string() + "' under `keys:`");
      rule.key = key->name;
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::optional<dns::Name> parse_catalog(const ConfigNode& node) {
  std::string text = node.as_string();
  if (text.empty() || text.back() != '.') text.push_back('.');
  auto name = dns::Name::from_text(text);
  if (!name || name->is_root()) node.fail("'" + node.as_string() + "' is not a zone name");
  return name->lowered();
}

}  // namespace

TransferSettings parse_transfer_settings(const ConfigNode& section) {
  section.expect_map({"keys", "allow", "notify", "catalog", "poll", "journal_max_mib"});
  TransferSettings settings;
  if (section.is_null()) return settings;
  if (auto keys = section.get("keys")) settings.keys = parse_keys(*keys);
  if (auto allow = section.get("allow")) settings.allow = parse_allow(*allow, settings.keys);
  if (auto catalog = section.get("catalog")) settings.tracker.catalog = parse_catalog(*catalog);
  // Below a second the poll would cost more than it gains; above an hour NOTIFY and
  // IXFR would lag more than any TTL.
  settings.tracker.poll = section.duration_or("poll", kDefaultPoll, std::chrono::seconds(1), std::chrono::hours(1));
  settings.tracker.journal_max_bytes = section.uint_or("journal_max_mib", kDefaultJournalMaxMib, 0, 1u << 20) << 20;
  if (auto notify = section.get("notify")) settings.tracker.notify = parse_notify_settings(*notify, settings.keys);
  settings.tracker.keys = settings.keys;
  return settings;
}

std::string tracker_settings_conflict(const ConfigNode& a, const ConfigNode& b) {
  for (std::string_view key : kTrackerKeys) {
    auto left = a.get(key);
    auto right = b.get(key);
    const std::string left_text = left ? YAML::Dump(left->yaml()) : std::string();
    const std::string right_text = right ? YAML::Dump(right->yaml()) : std::string();
    if (left_text != right_text) return std::string(key);
  }
  // NOTIFYs are signed with the keys the notify targets name.
  if (a.get("notify") && YAML::Dump(a.get("keys") ? a.get("keys")->yaml() : YAML::Node()) !=
                             YAML::Dump(b.get("keys") ? b.get("keys")->yaml() : YAML::Node()))
    return "keys";
  return {};
}

}  // namespace stsd::transfer
