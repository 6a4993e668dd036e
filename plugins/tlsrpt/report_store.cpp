// Storage of TLS-RPT reports in the store's key space "tlsrpt" (layout: report_store.h).
#include "tlsrpt/report_store.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>


#include "store/sha256.h"
#include "store/space_records.h"
#include "utc_time.h"

namespace stsd::tlsrpt {
namespace {

using nlohmann::json;
constexpr std::string_view kSpace = "tlsrpt";

std::string report_hash(const Report& report) {
  const std::string text = report.organization + "\n" + report.report_id;
  return store::sha256_hex(text);
}

uint64_t number_of(const std::optional<std::string>& text) {
  return text ? std::strtoull(text->c_str(), nullptr, 10) : 0;
}

json empty_aggregate() {
  return json{{"reports", 0}, {"successful", 0}, {"failed", 0}, {"unknown_policy", 0},
              {"reporters", json::object()}, {"stale", json::array()}};
}

// Adds one policy entry of a report to a day's aggregate of its domain.
void add_to_aggregate(json& aggregate, const Report& report, const PolicyResult& result, const Attribution& attribution) {
  aggregate["reports"] = aggregate["reports"].get<uint64_t>() + 1;
  aggregate["successful"] = aggregate["successful"].get<uint64_t>() + result.successful;
  aggregate["failed"] = aggregate["failed"].get<uint64_t>() + result.failed;
  if (attribution.kind == Attribution::Kind::UnknownPolicy)
    aggregate["unknown_policy"] = aggregate["unknown_policy"].get<uint64_t>() + 1;
  json& reporter = aggregate["reporters"][report.organization];
  if (reporter.is_null()) reporter = json{{"reports", 0}, {"successful", 0}, {"failed", 0}, {"failures", json::object()}};
  reporter["reports"] = reporter["reports"].get<uint64_t>() + 1;
  reporter["successful"] = reporter["successful"].get<uint64_t>() + result.successful;
  reporter["failed"] = reporter["failed"].get<uint64_t>() + result.failed;
  for (const auto& failure : result.failures) {
    json& count = reporter["failures"][failure.result_type];
    count = (count.is_null() ? 0 : count.get<uint64_t>()) + failure.failed_session_count;
  }
  if (!attribution.stale) return;
  json& stale = aggregate["stale"];
  auto it = std::find_if(stale.begin(), stale.end(), [&](const json& entry) {
    return entry["reporter"] == report.organization && entry["version"] == attribution.version;
  });
  if (it == stale.end()) {
    stale.push_back(json{{"reporter", report.organization}, {"version", attribution.version},
                         {"confirmed_version", attribution.confirmed_version},
                         {"confirmed_at", iso8601(attribution.confirmed_at)}, {"successful", 0}, {"failed", 0},
                         {"first", iso8601(report.start)}, {"last", iso8601(report.end)}});
    it = stale.end() - 1;
  }
  json& entry = *it;
  entry["successful"] = entry["successful"].get<uint64_t>() + result.successful;
  entry["failed"] = entry["failed"].get<uint64_t>() + result.failed;
  if (attribution.confirmed_version > entry["confirmed_version"].get<uint32_t>()) {
    entry["confirmed_version"] = attribution.confirmed_version;
    entry["confirmed_at"] = iso8601(attribution.confirmed_at);
  }
  entry["first"] = std::min(entry["first"].get<std::string>(), iso8601(report.start));
  entry["last"] = std::max(entry["last"].get<std::string>(), iso8601(report.end));
}

// Merges one day's stale entries into `into` (keyed by reporter and version).
void merge_stale(json& into, const json& day_entries) {
  for (const json& entry : day_entries) {
    auto it = std::find_if(into.begin(), into.end(), [&](const json& known) {
      return known["reporter"] == entry["reporter"] && known["version"] == entry["version"];
    });
    if (it == into.end()) {
      into.push_back(entry);
      continue;
    }
    json& known = *it;
    known["successful"] = known["successful"].get<uint64_t>() + entry["successful"].get<uint64_t>();
    known["failed"] = known["failed"].get<uint64_t>() + entry["failed"].get<uint64_t>();
    if (entry["confirmed_version"].get<uint32_t>() > known["confirmed_version"].get<uint32_t>()) {
      known["confirmed_version"] = entry["confirmed_version"];
      known["confirmed_at"] = entry["confirmed_at"];
    }
    known["first"] = std::min(known["first"].get<std::string>(), entry["first"].get<std::string>());
    known["last"] = std::max(known["last"].get<std::string>(), entry["last"].get<std::string>());
  }
}

}  // namespace

std::string utc_day(int64_t unix_seconds) {
  const UtcFields f = utc_fields(unix_seconds);
  char text[32];
  std::snprintf(text, sizeof text, "%04" PRId64 "-%02u-%02u", f.year, f.month, f.day);
  return text;
}

// One write's view of the key space: the committed records with this write's changes
// over them, and the octets each change adds to its day.
class ReportStore::Pending {
 public:
  explicit Pending(store::SpaceWrite& space) : space_(space) {}
  explicit Pending(Pending* parent) : space_(parent->space_), parent_(parent) {}

  std::optional<std::string> get(const std::string& key) const {
    if (auto it = changes_.find(key); it != changes_.end()) return it->second;
    return parent_ ? parent_->get(key) : space_.get(key);
  }
  // Puts a record of `day` (empty: no day's size changes).
  void put(const std::string& key, std::string value, const std::string& day) {
    account(key, value.size() + key.size(), day);
    changes_[key] = std::move(value);
  }
  void erase(const std::string& key) { changes_[key] = std::nullopt; }
  void scan_committed(const std::string& prefix,
                      const std::function<bool(std::string_view, std::string_view)>& visit) const {
    space_.scan(prefix, visit);
  }
  // Octets this layer adds to the stored days.
  int64_t added() const { return added_; }
  const std::map<std::string, int64_t>& day_growth() const { return day_growth_; }

  void merge_into_parent() {
    for (auto& [key, value] : changes_) parent_->changes_[key] = std::move(value);
    for (const auto& [day, growth] : day_growth_) parent_->day_growth_[day] += growth;
    parent_->added_ += added_;
  }
  void flush() {
    for (const auto& [key, value] : changes_)
      value ? space_.put(key, *value) : space_.erase(key);
  }

 private:
  void account(const std::string& key, size_t new_size, const std::string& day) {
    if (day.empty()) return;
    const auto old = get(key);
    const int64_t growth = static_cast<int64_t>(new_size) - (old ? static_cast<int64_t>(old->size() + key.size()) : 0);
    day_growth_[day] += growth;
    added_ += growth;
  }

  store::SpaceWrite& space_;
  Pending* parent_ = nullptr;
  std::map<std::string, std::optional<std::string>> changes_;
  std::map<std::string, int64_t> day_growth_;
  int64_t added_ = 0;
};

ReportStore::ReportStore(std::shared_ptr<store::PolicyStore> store, StorageSettings settings)
    : store_(std::move(store)), settings_(settings) {
  load_index();
}

std::vector<StoreOutcome> ReportStore::store(const std::vector<const ReadyReport*>& reports) {
  std::vector<StoreOutcome> outcomes(reports.size(), StoreOutcome::Stored);
  std::vector<IndexChange> index;
  store_->write_space(kSpace, [&](store::SpaceWrite& space) {
    index.clear();
    Pending batch(space);
    std::vector<std::string> touched_days;
    for (size_t i = 0; i < reports.size(); ++i) outcomes[i] = store_one(batch, *reports[i], touched_days, index);
    for (const auto& [day, growth] : batch.day_growth()) {
      const std::string key = "size/" + day;
      const int64_t size = static_cast<int64_t>(number_of(batch.get(key))) + growth;
      if (size > 0) batch.put(key, std::to_string(size), "");
    }
    batch.flush();
  });
  apply_index(index);
  return outcomes;
}

StoreOutcome ReportStore::store_one(Pending& batch, const ReadyReport& ready, std::vector<std::string>& touched_days,
                                    std::vector<IndexChange>& index) const {
  const Report& report = ready.report;
  const std::string hash = report_hash(report);
  if (batch.get("id/" + hash)) return StoreOutcome::Duplicate;
  const std::string day = utc_day(report.start);
  Pending layer(&batch);
  std::vector<IndexChange> added;
  layer.put("id/" + hash, day, day);
  layer.put("day/" + day + "/id/" + hash, "", day);
  for (size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& result = report.policies[i];
    const std::string& domain = result.policy_domain;
    const std::string key = "day/" + day + (ready.in_store[i] ? "/agg/" : "/kept/") + domain;
    const auto old = layer.get(key);
    json aggregate = old ? json::parse(*old) : empty_aggregate();
    add_to_aggregate(aggregate, report, result, ready.attributions[i]);
    layer.put(key, aggregate.dump(), day);
    if (!ready.in_store[i]) continue;
    for (const auto& [stale, present] : {std::pair{true, ready.attributions[i].stale}, std::pair{false, result.failed > 0}}) {
      const std::string marker = "day/" + day + (stale ? "/stale/" : "/fail/") + domain;
      if (!present || layer.get(marker)) continue;
      layer.put(marker, "", day);
      added.push_back({stale, domain, 1});
    }
  }
  const uint64_t total = number_of(batch.get("total"));
  const int64_t growth = layer.added();
  if (growth > 0 && total + static_cast<uint64_t>(growth) > settings_.max_bytes &&
      !make_room(batch, total + growth - settings_.max_bytes, day, touched_days, index))
    return StoreOutcome::Full;
  layer.merge_into_parent();
  if (std::find(touched_days.begin(), touched_days.end(), day) == touched_days.end()) touched_days.push_back(day);
  index.insert(index.end(), added.begin(), added.end());
  const int64_t new_total = static_cast<int64_t>(number_of(batch.get("total"))) + layer.added();
  batch.put("total", std::to_string(std::max<int64_t>(new_total, 0)), "");
  return StoreOutcome::Stored;
}

bool ReportStore::make_room(Pending& batch, uint64_t needed, const std::string& before,
                            const std::vector<std::string>& touched, std::vector<IndexChange>& index) const {
  std::vector<std::pair<std::string, uint64_t>> candidates;  // oldest first (key order)
  uint64_t available = 0;
  batch.scan_committed("size/", [&](std::string_view key, std::string_view value) {
    const std::string day(key.substr(5));
    if (day >= before) return false;
    if (std::find(touched.begin(), touched.end(), day) != touched.end() || !batch.get("size/" + day)) return true;
    candidates.emplace_back(day, std::strtoull(std::string(value).c_str(), nullptr, 10));
    available += candidates.back().second;
    return true;
  });
  if (available < needed) return false;
  uint64_t freed = 0;
  for (const auto& [day, size] : candidates) {
    if (freed >= needed) break;
    drop_day(batch, day, index);
    freed += size;
  }
  return true;
}

void ReportStore::drop_day(Pending& batch, const std::string& day, std::vector<IndexChange>& index) const {
  const std::string prefix = "day/" + day + "/";
  batch.scan_committed(prefix, [&](std::string_view key, std::string_view) {
    const std::string_view rest = key.substr(prefix.size());
    if (rest.starts_with("id/")) batch.erase("id/" + std::string(rest.substr(3)));
    if (rest.starts_with("stale/")) index.push_back({true, std::string(rest.substr(6)), -1});
    if (rest.starts_with("fail/")) index.push_back({false, std::string(rest.substr(5)), -1});
    batch.erase(std::string(key));
    return true;
  });
  const uint64_t size = number_of(batch.get("size/" + day));
  batch.erase("size/" + day);
  const uint64_t total = number_of(batch.get("total"));
  batch.put("total", std::to_string(total > size ? total - size : 0), "");
}

size_t ReportStore::sweep(int64_t now) {
  const std::string oldest_kept = utc_day(now - settings_.retention_days * 86400);
  std::vector<std::string> due;
  store_->space_scan(kSpace, "size/", [&](std::string_view key, std::string_view) {
    const std::string day(key.substr(5));
    if (day >= oldest_kept) return false;
    due.push_back(day);
    return true;
  });
  if (due.empty()) return 0;
  std::vector<IndexChange> index;
  store_->write_space(kSpace, [&](store::SpaceWrite& space) {
    index.clear();
    Pending batch(space);
    for (const auto& day : due) drop_day(batch, day, index);
    batch.flush();
  });
  apply_index(index);
  return due.size();
}

void ReportStore::load_index() {
  std::vector<IndexChange> index;
  store_->space_scan(kSpace, "day/", [&](std::string_view key, std::string_view) {
    // day/YYYY-MM-DD/<kind>/<domain>
    const std::string_view rest = key.substr(15);
    if (rest.starts_with("stale/")) index.push_back({true, std::string(rest.substr(6)), 1});
    if (rest.starts_with("fail/")) index.push_back({false, std::string(rest.substr(5)), 1});
    return true;
  });
  apply_index(index);
}

void ReportStore::apply_index(const std::vector<IndexChange>& index) {
  std::lock_guard lock(index_mutex_);
  for (const auto& change : index) {
    auto& days = change.stale ? stale_days_ : fail_days_;
    if (change.delta > 0) {
      ++days[change.domain];
    } else if (auto it = days.find(change.domain); it != days.end() && --it->second == 0) {
      days.erase(it);
    }
  }
}

ReportStore::Usage ReportStore::usage() const {
  Usage usage;
  usage.bytes = number_of(store_->space_get(kSpace, "total"));
  store_->space_scan(kSpace, "size/", [&](std::string_view, std::string_view) {
    ++usage.days;
    return true;
  });
  std::lock_guard lock(index_mutex_);
  usage.domains_with_stale = stale_days_.size();
  usage.domains_with_failures = fail_days_.size();
  return usage;
}

json ReportStore::domain_summary(const std::string& domain, const std::string& since_day) const {
  json summary{{"domain", domain}, {"since", since_day}, {"totals", {{"successful", 0}, {"failed", 0}}},
               {"failures", json::object()}, {"stale", json::array()}, {"unknown_policy", 0},
               {"days", json::array()}};
  const bool in_store = store_->has_domain(domain);
  if (!in_store) summary["kept_apart"] = true;
  std::vector<std::string> days;
  store_->space_scan(kSpace, "size/", [&](std::string_view key, std::string_view) {
    const std::string day(key.substr(5));
    if (day >= since_day) days.push_back(day);
    return true;
  });
  uint64_t successful = 0, failed = 0, unknown = 0;
  for (const auto& day : days) {
    auto value = store_->space_get(kSpace, "day/" + day + (in_store ? "/agg/" : "/kept/") + domain);
    if (!value) continue;
    const json aggregate = json::parse(*value);
    successful += aggregate["successful"].get<uint64_t>();
    failed += aggregate["failed"].get<uint64_t>();
    unknown += aggregate["unknown_policy"].get<uint64_t>();
    for (const auto& [reporter, counts] : aggregate["reporters"].items()) {
      for (const auto& [type, count] : counts["failures"].items()) {
        json& total = summary["failures"][type];
        total = (total.is_null() ? 0 : total.get<uint64_t>()) + count.get<uint64_t>();
      }
    }
    merge_stale(summary["stale"], aggregate["stale"]);
    summary["days"].push_back(json{{"day", day},
                                   {"reports", aggregate["reports"]},
                                   {"successful", aggregate["successful"]},
                                   {"failed", aggregate["failed"]},
                                   {"reporters", aggregate["reporters"]}});
  }
  summary["totals"] = {{"successful", successful}, {"failed", failed}};
  summary["unknown_policy"] = unknown;
  return summary;
}

json ReportStore::stale_domains() const {
  std::vector<std::string> days, domains;
  store_->space_scan(kSpace, "size/", [&](std::string_view key, std::string_view) {
    days.emplace_back(key.substr(5));
    return true;
  });
  for (const auto& day : days) {
    store_->space_scan(kSpace, "day/" + day + "/stale/", [&](std::string_view key, std::string_view) {
      domains.emplace_back(key.substr(std::string_view("day/YYYY-MM-DD/stale/").size()));
      return true;
    });
  }
  std::sort(domains.begin(), domains.end());
  domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
  json result{{"domains", json::array()}};
  const std::string since = days.empty() ? std::string("0000-00-00") : days.front();
  for (const auto& domain : domains)
    result["domains"].push_back(json{{"domain", domain}, {"stale", domain_summary(domain, since)["stale"]}});
  return result;
}

json ReportStore::status_section(const std::string& domain, int64_t now) const {
  constexpr int64_t kDaysShown = 7;
  const std::string since = utc_day(now - (kDaysShown - 1) * 86400);
  json summary = domain_summary(domain, since);
  std::vector<std::string> lines;
  const uint64_t successful = summary["totals"]["successful"], failed = summary["totals"]["failed"];
  if (summary["days"].empty()) {
    lines.push_back("no reports since " + since);
  } else {
    std::string line = "since " + since + ": " + std::to_string(successful) + " successful, " + std::to_string(failed) +
                       " failed sessions";
    std::string types;
    for (const auto& [type, count] : summary["failures"].items())
      types += (types.empty() ? "" : ", ") + type + " " + std::to_string(count.get<uint64_t>());
    if (!types.empty()) line += " (" + types + ")";
    if (summary["unknown_policy"].get<uint64_t>() > 0)
      line += "; " + std::to_string(summary["unknown_policy"].get<uint64_t>()) + " reports of an unknown policy";
    lines.push_back(line);
  }
  for (const json& stale : summary["stale"]) {
    lines.push_back("STALE: " + stale["reporter"].get<std::string>() + " applied version " +
                    std::to_string(stale["version"].get<uint32_t>()) + " while version " +
                    std::to_string(stale["confirmed_version"].get<uint32_t>()) + " was confirmed at " +
                    stale["confirmed_at"].get<std::string>() + " (" +
                    std::to_string(stale["successful"].get<uint64_t>()) + " successful, " +
                    std::to_string(stale["failed"].get<uint64_t>()) + " failed sessions, " +
                    stale["first"].get<std::string>() + " to " + stale["last"].get<std::string>() + ")");
  }
  return json{{"lines", lines}, {"since", since}, {"totals", summary["totals"]}, {"stale", summary["stale"]}};
}

}  // namespace stsd::tlsrpt
