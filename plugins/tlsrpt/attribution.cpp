#include "tlsrpt/attribution.h"

#include "store/policy.h"

namespace stsd::tlsrpt {

std::optional<std::string> policy_string_digest(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\r\n";
  store::ParsedPolicy parsed = store::parse_policy(text);
  if (!parsed.policy) return std::nullopt;
  return store::policy_digest(store::normalized_policy(*parsed.policy));
}

Attribution attribute(const PolicyResult& result, const VersionHistory& history, int64_t report_start) {
  Attribution attribution;
  if (result.policy_type != "sts") return attribution;
  attribution.kind = Attribution::Kind::UnknownPolicy;
  const auto digest = policy_string_digest(result.policy_string);
  if (!digest) return attribution;
  // The newest version with this content: a policy staged again unchanged is the same
  // policy to a sender.
  for (auto it = history.versions.rbegin(); it != history.versions.rend(); ++it) {
    if (it->digest == *digest) {
      attribution.kind = Attribution::Kind::Matched;
      attribution.version = it->number;
      break;
    }
  }
  if (attribution.kind != Attribution::Kind::Matched) return attribution;
  for (const auto& confirmed : history.confirmations) {
    if (confirmed.at > report_start) break;
    attribution.confirmed_version = confirmed.version;
    attribution.confirmed_at = confirmed.at;
  }
  attribution.stale = attribution.version < attribution.confirmed_version;
  return attribution;
}

HistoryCache::HistoryCache(std::shared_ptr<store::PolicyStore> store) : store_(std::move(store)) {
  subscription_ = store_->subscribe([this](const std::string& domain) {
    std::lock_guard lock(mutex_);
    histories_.erase(domain);
    ++changes_;
  });
}

std::shared_ptr<const VersionHistory> HistoryCache::get(const std::string& domain) {
  uint64_t changes_before;
  {
    std::lock_guard lock(mutex_);
    if (auto it = histories_.find(domain); it != histories_.end()) return it->second;
    changes_before = changes_;
  }
  auto history = read(domain);
  if (!history) return nullptr;
  std::lock_guard lock(mutex_);
  // Bounded: one entry per domain in the store, each a few versions.
  if (changes_ == changes_before) histories_.emplace(domain, history);
  return history;
}

std::shared_ptr<const VersionHistory> HistoryCache::read(const std::string& domain) const {
  const auto status = store_->status(domain, store_->now());
  if (!status) return nullptr;
  auto history = std::make_shared<VersionHistory>();
  const uint32_t newest = status->staged ? status->staged->number : 0;
  for (uint32_t number = 1; number <= newest; ++number)
    if (auto version = store_->version(domain, number)) history->versions.push_back({number, version->digest});
  constexpr size_t kEventsRead = 100000;
  auto events = store_->events(domain, kEventsRead);  // newest first
  for (auto it = events.rbegin(); it != events.rend(); ++it)
    if ((it->kind == "confirmed" || it->kind == "manual_confirm") && it->version != 0)
      history->confirmations.push_back({it->version, it->at});
  return history;
}

}  // namespace stsd::tlsrpt
