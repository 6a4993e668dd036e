#include "journal.h"

#include <algorithm>

#include "wire_records.h"

namespace stsd::transfer {

namespace {

// The records after the SOA, each as its wire octets, sorted so two versions compare
// in one pass.
std::vector<std::span<const uint8_t>> sorted_body(const ZoneVersion& version) {
  std::vector<std::span<const uint8_t>> body;
  size_t offset = 0;
  WireRecord record;
  bool first = true;
  while (next_record(version.records, offset, record)) {
    if (first) {
      first = false;
      continue;
    }
    body.push_back(record.whole);
  }
  const auto less = [](std::span<const uint8_t> a, std::span<const uint8_t> b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  };
  std::sort(body.begin(), body.end(), less);
  return body;
}

void append_whole(std::vector<uint8_t>& out, std::span<const uint8_t> whole) {
  out.insert(out.end(), whole.begin(), whole.end());
}

}  // namespace

ZoneVersion version_of(const zone::Content& content) {
  ZoneVersion version;
  version.serial = content.serial;
  size_t total = 0;
  for (const auto& record : content.records) total += record.owner.size() + 10 + record.rdata.size();
  version.records.reserve(total);
  for (const auto& record : content.records) append_record(version.records, record);
  return version;
}

ZoneDiff diff_versions(const ZoneVersion& from, const ZoneVersion& to) {
  ZoneDiff diff;
  diff.from = from.serial;
  diff.to = to.serial;
  append_whole(diff.removed, first_record(from.records).whole);
  append_whole(diff.added, first_record(to.records).whole);
  const auto old_body = sorted_body(from);
  const auto new_body = sorted_body(to);
  // A merge of two sorted lists: what only the old one has is removed, what only the new
  // one has is added.
  size_t i = 0, j = 0;
  const auto less = [](std::span<const uint8_t> a, std::span<const uint8_t> b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  };
  while (i < old_body.size() || j < new_body.size()) {
    if (j == new_body.size() || (i < old_body.size() && less(old_body[i], new_body[j]))) {
      append_whole(diff.removed, old_body[i++]);
    } else if (i == old_body.size() || less(new_body[j], old_body[i])) {
      append_whole(diff.added, new_body[j++]);
    } else {
      ++i;
      ++j;
    }
  }
  diff.removed.shrink_to_fit();
  diff.added.shrink_to_fit();
  return diff;
}

std::string Journal::key_of(const dns::Name& apex) {
  const dns::Name lowered = apex.lowered();
  return std::string(reinterpret_cast<const char*>(lowered.data()), lowered.size());
}

std::shared_ptr<Journal::ZoneState> Journal::find(const dns::Name& apex) const {
  auto it = zones_.find(key_of(apex));
  return it == zones_.end() ? nullptr : it->second;
}

void Journal::set_max_bytes(size_t max_bytes) {
  std::lock_guard lock(mutex_);
  max_bytes_ = max_bytes;
  evict_over_bound();
}

void Journal::drop_history(ZoneState& zone) {
  for (const auto& diff : zone.diffs) journal_bytes_ -= diff->bytes();
  zone.diffs.clear();
  zone.diffs.shrink_to_fit();
}

void Journal::evict_over_bound() {
  while (journal_bytes_ > max_bytes_ && !order_.empty()) {
    Journaled oldest = std::move(order_.front());
    order_.pop_front();
    auto zone = oldest.zone.lock();
    auto diff = oldest.diff.lock();
    // Already gone with its zone, or dropped by a reset: its octets were counted then.
    if (!zone || !diff || zone->diffs.empty() || zone->diffs.front() != diff) continue;
    journal_bytes_ -= diff->bytes();
    zone->diffs.erase(zone->diffs.begin());
  }
  // Entries of differences dropped with their zone would otherwise pile up.
  while (!order_.empty() && order_.front().diff.expired()) order_.pop_front();
}

Journal::Outcome Journal::record(const dns::Name& apex, ZoneVersion new_version) {
  auto version = std::make_shared<const ZoneVersion>(std::move(new_version));
  std::lock_guard lock(mutex_);
  std::string key = key_of(apex);
  auto it = zones_.find(key);
  if (it == zones_.end()) {
    auto zone = std::make_shared<ZoneState>();
    content_bytes_ += version->records.size();
    zone->current = std::move(version);
    zones_.emplace(std::move(key), std::move(zone));
    return Outcome::Added;
  }
  ZoneState& zone = *it->second;
  const ZoneVersion& old = *zone.current;
  if (old.serial == version->serial) return Outcome::Unchanged;
  content_bytes_ += version->records.size();
  content_bytes_ -= old.records.size();
  if (!serial_after(version->serial, old.serial)) {
    // A serial that went back (a zone file edited by hand): no secondary can follow a
    // difference to it, so the history before it is of no use.
    drop_history(zone);
    zone.current = std::move(version);
    return Outcome::Reset;
  }
  auto diff = std::make_shared<const ZoneDiff>(diff_versions(old, *version));
  journal_bytes_ += diff->bytes();
  zone.diffs.push_back(diff);
  order_.push_back(Journaled{it->second, diff});
  zone.current = std::move(version);
  evict_over_bound();
  return Outcome::Changed;
}

bool Journal::remove(const dns::Name& apex) {
  std::lock_guard lock(mutex_);
  auto it = zones_.find(key_of(apex));
  if (it == zones_.end()) return false;
  drop_history(*it->second);
  content_bytes_ -= it->second->current->records.size();
  zones_.erase(it);
  return true;
}

std::optional<uint32_t> Journal::serial(const dns::Name& apex) const {
  std::lock_guard lock(mutex_);
  auto zone = find(apex);
  if (!zone) return std::nullopt;
  return zone->current->serial;
}

std::shared_ptr<const ZoneVersion> Journal::current(const dns::Name& apex) const {
  std::lock_guard lock(mutex_);
  auto zone = find(apex);
  return zone ? zone->current : nullptr;
}

IxfrPlan Journal::plan_ixfr(const dns::Name& apex, uint32_t client_serial) const {
  IxfrPlan plan;
  std::lock_guard lock(mutex_);
  auto zone = find(apex);
  if (!zone) return plan;
  plan.current = zone->current;
  // RFC 1995 §2: a client with the same or a newer version gets the single SOA.
  if (client_serial == plan.current->serial || serial_after(client_serial, plan.current->serial)) {
    plan.kind = IxfrPlan::Kind::UpToDate;
    return plan;
  }
  auto start = std::find_if(zone->diffs.begin(), zone->diffs.end(),
                            [&](const auto& diff) { return diff->from == client_serial; });
  if (start == zone->diffs.end()) return plan;  // unknown or too old: AXFR-style (§4)
  plan.kind = IxfrPlan::Kind::Incremental;
  plan.diffs.assign(start, zone->diffs.end());
  return plan;
}

size_t Journal::zone_count() const {
  std::lock_guard lock(mutex_);
  return zones_.size();
}

size_t Journal::journal_bytes() const {
  std::lock_guard lock(mutex_);
  return journal_bytes_;
}

size_t Journal::content_bytes() const {
  std::lock_guard lock(mutex_);
  return content_bytes_;
}

}  // namespace stsd::transfer
