#include "store/transaction.h"

#include <algorithm>
#include <memory>
#include <numeric>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include "store/codecs.h"
#include "store/errors.h"
#include "store/keys.h"

namespace stsd::store {

Transaction::Transaction(const Disk& disk, const ServedIndex& index, const NameRoom& room, uint64_t event_seq,
                         int64_t now)
    : disk_(disk), index_(index), room_(room), event_seq_(event_seq), now_(now) {}

DomainRecord Transaction::existing(const std::string& domain) const {
  auto record = disk_.record(domain);
  if (!record) throw PolicyError("domain '" + domain + "' is not in the store (add it first)");
  if (record->retirement) read_retiring_.insert(domain);
  return std::move(*record);
}

std::optional<PolicyVersion> Transaction::version(const std::string& domain, uint32_t number) const {
  return disk_.version(domain, number);
}

void Transaction::check_name_room(const std::string& domain) const {
  if (domain.size() + 2 + room_.octets > 255)
    throw PolicyError("domain '" + domain + "' is too long: " + room_.why + " (" +
                      std::to_string(domain.size() + 2 + room_.octets) + " octets)");
}

std::optional<uint32_t> Transaction::kept_numbering(const std::string& domain) const {
  auto kept = disk_.get(keys::last_number(domain));
  if (!kept) return std::nullopt;
  return static_cast<uint32_t>(std::stoul(*kept));
}

std::vector<std::optional<uint32_t>> Transaction::kept_numberings(const std::vector<std::string_view>& sorted) const {
  std::vector<std::optional<uint32_t>> kept(sorted.size());
  if (sorted.empty()) return kept;
  const rocksdb::Slice upper(keys::kLastNumberEnd.data(), keys::kLastNumberEnd.size());
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(disk_.db().NewIterator(options));
  it->Seek(keys::last_number(sorted.front()));
  for (size_t i = 0; i < sorted.size() && it->Valid(); ++i) {
    const std::string wanted = keys::last_number(sorted[i]);
    // A few steps forward are cheaper than a seek; a long gap is skipped by one.
    for (int steps = 0; it->Valid() && it->key().compare(wanted) < 0; ++steps) {
      if (steps == 8) {
        it->Seek(wanted);
        break;
      }
      it->Next();
    }
    if (it->Valid() && it->key() == rocksdb::Slice(wanted))
      kept[i] = static_cast<uint32_t>(std::stoul(it->value().ToString()));
  }
  if (!it->status().ok()) throw StoreError("store scan of kept version numbers failed: " + it->status().ToString());
  return kept;
}

uint32_t Transaction::resume_numbering(const std::string& domain, std::optional<uint32_t> kept) {
  if (!kept) return 0;  // nothing kept: no tombstone to write
  batch_.Delete(keys::last_number(domain));
  return *kept;
}

void Transaction::put_version(const std::string& domain, const PolicyVersion& version) {
  batch_.Put(keys::version(domain, version.number), encode_version(version));
}

void Transaction::put_record(const std::string& domain, const DomainRecord& record) {
  batch_.Put(keys::domain(domain), encode_record(record));
  if (record.retirement) {
    const auto& removal = record.retirement->removal;
    batch_.Put(keys::retiring(domain), removal ? std::to_string(removal->until) : std::string());
  } else if (read_retiring_.count(domain)) {
    batch_.Delete(keys::retiring(domain));
  }
  note_change(domain, record);
}

void Transaction::remove_domain(const std::string& domain, uint32_t last_number) {
  batch_.Delete(keys::domain(domain));
  const std::string prefix = keys::version_prefix(domain);
  std::unique_ptr<rocksdb::Iterator> it(disk_.db().NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) batch_.Delete(it->key());
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  batch_.Put(keys::last_number(domain), std::to_string(last_number));
  batch_.Delete(keys::retiring(domain));
  note_change(domain, std::nullopt);
}

void Transaction::note_change(const std::string& domain, std::optional<DomainRecord> record) {
  if (!changed_.empty() && changed_.back().first == domain)
    changed_.back().second = std::move(record);  // written again right away (a confirmation's retirement step)
  else
    changed_.emplace_back(domain, std::move(record));
}

void Transaction::add_event(const std::string& domain, std::string kind, uint32_t version, std::string detail) {
  const Event event{event_seq_ + ++events_, now_, std::move(kind), version, std::move(detail)};
  batch_.Put(keys::event(domain, event.seq), encode_event(event));
}

std::vector<Transaction::ServedChange> Transaction::finish() {
  // Once a write, not once an event: an import adds three events a domain.
  if (events_) batch_.Put(std::string(keys::kEventSeq), std::to_string(event_seq_ + events_));
  // The last change of each domain, in key order: a writer that walks its domains in key
  // order (an import) has them sorted already.
  std::vector<size_t> order(changed_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const auto by_domain = [&](size_t a, size_t b) { return changed_[a].first < changed_[b].first; };
  if (!std::is_sorted(order.begin(), order.end(), by_domain)) std::stable_sort(order.begin(), order.end(), by_domain);
  std::vector<ServedChange> changes;
  changes.reserve(changed_.size());
  for (size_t k = 0; k < order.size(); ++k) {
    if (k + 1 < order.size() && changed_[order[k + 1]].first == changed_[order[k]].first) continue;  // a later one wins
    const auto& [domain, record] = changed_[order[k]];
    ServedChange change{domain, std::nullopt};
    if (record) {
      change.facts = facts_of(domain, *record);
      batch_.Put(keys::served(domain), encode_served_record(*change.facts));
    } else {
      batch_.Delete(keys::served(domain));
    }
    changes.push_back(std::move(change));
  }
  return changes;
}

}  // namespace stsd::store
