// The `notify:` section of the transfer plugin (README "notify").
#include <set>

#include "net/address.h"
#include "notifier.h"
#include "notify_key.h"

namespace stsd::transfer {

namespace {

constexpr uint16_t kDnsPort = 53;
constexpr unsigned kMaxRetries = 10;

// "2s", "1m" (ConfigNode::as_duration) or "500ms": tests and fast secondaries on a LAN
// want less than a second.
std::chrono::milliseconds parse_interval(const ConfigNode& node) {
  const std::string text = node.as_string();
  std::chrono::milliseconds interval;
  if (text.size() > 2 && text.ends_with("ms")) {
    const std::string digits = text.substr(0, text.size() - 2);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9)
      node.fail("'" + text + "' is not a duration (e.g. 500ms, 2s, 1m)");
    interval = std::chrono::milliseconds(std::stoul(digits));
  } else {
    interval = node.as_duration();
  }
  if (interval < std::chrono::milliseconds(10) || interval > std::chrono::hours(1))
    node.fail("'" + text + "' is out of range: from 10ms to 1h");
  return interval;
}

NotifyTarget parse_target(const ConfigNode& node, const std::vector<dns::tsig::Key>& keys) {
  node.expect_map({"address", "key"});
  const ConfigNode address = node.require("address");
  const auto parsed = net::parse_address_port(address.as_string(), kDnsPort);
  if (!parsed) address.fail(parsed.error());
  NotifyTarget target;
  target.endpoint = boost::asio::ip::udp::endpoint(parsed->address, parsed->port);
  if (auto key = node.get("key")) {
    target.key = key->as_string();
    if (!find_key(keys, target.key)) key->fail("no key named '" + target.key + "' in the plugin's keys");
  }
  return target;
}

}  // namespace

const dns::tsig::Key* find_key(std::span<const dns::tsig::Key> keys, std::string_view name) {
  std::string text(name);
  if (text.empty()) return nullptr;
  if (text.back() != '.') text += '.';
  const auto wanted = dns::Name::from_text(text);
  if (!wanted) return nullptr;
  for (const auto& key : keys)
    if (key.name == *wanted) return &key;
  return nullptr;
}

NotifySettings parse_notify_settings(const ConfigNode& section, const std::vector<dns::tsig::Key>& keys) {
  section.expect_map({"targets", "retries", "retry_interval", "rate", "queue_limit"});
  NotifySettings settings;
  if (auto targets = section.get("targets")) {
    if (!targets->is_sequence() && !targets->is_null()) targets->fail("expected a list of {address, key}");
    std::set<std::string> seen;
    for (const auto& item : targets->items()) {
      NotifyTarget target = parse_target(item, keys);
      const std::string text = net::endpoint_text(target.endpoint.address(), target.endpoint.port());
      if (!seen.insert(text).second) item.fail("target " + text + " is listed twice");
      settings.targets.push_back(std::move(target));
    }
  }
  settings.retries = static_cast<unsigned>(section.uint_or("retries", settings.retries, 0, kMaxRetries));
  if (auto interval = section.get("retry_interval")) settings.retry_interval = parse_interval(*interval);
  settings.rate = static_cast<unsigned>(section.uint_or("rate", settings.rate, 1, 1'000'000));
  settings.queue_limit = section.uint_or("queue_limit", settings.queue_limit, 1, 100'000'000);
  return settings;
}

}  // namespace stsd::transfer
