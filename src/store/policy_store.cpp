// The store object: opening, the write frame, change notification, and the reads.
// The writers themselves are in writers.cpp.
#include "store/policy_store.h"

#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include "clock.h"
#include "environment.h"
#include "logging.h"
#include "metrics.h"
#include "readiness.h"
#include "store/codecs.h"
#include "store/database.h"
#include "store/disk.h"
#include "store/keys.h"
#include "store/loader.h"
#include "store/served_index.h"
#include "store/space_records.h"
#include "store/transaction.h"
#include "store/write_guard.h"
#include "store/writer_steps.h"

namespace stsd::store {

struct PolicyStore::Impl {
  struct Subscribers {
    std::recursive_mutex mutex;
    uint64_t next_id = 1;
    std::map<uint64_t, std::function<void(const std::string&)>> callbacks;
  };

  Impl(std::shared_ptr<Database> opened, std::shared_ptr<Clock> clock)
      : database(std::move(opened)), disk(*database), guard(*database, mutex, std::move(clock)) {}

  std::shared_ptr<Database> database;
  Disk disk;
  ServedIndex index;
  // Writers; `event_seq`, `name_room`, `pending`, index changes. Readers outside it hold
  // database->read_lock(): a recovery (under this mutex) may reopen the database.
  std::mutex mutex;
  uint64_t event_seq = 0;
  NameRoom name_room;
  std::set<std::string> pending;  // domains whose staged version is unconfirmed
  std::atomic<int64_t> rotation_seconds{86400};
  int64_t aligned_until = 0;  // set once when loaded
  std::atomic<bool> rotation_evidence_required{false};
  std::shared_ptr<Subscribers> subscribers = std::make_shared<Subscribers>();
  std::atomic<bool> gating_put_off{false};         // gate_ungated_rotations met a store refusing writes
  std::mutex backup_mutex;                         // one backup at a time (they share a staging folder)
  WriteGuard guard;                                // after what it refers to: stops first
  metrics::MetricsRegistry::Registration metrics;  // the process-wide store's (open(env))

  // Calls every subscriber with each changed domain, outside the store lock. The
  // subscribers' mutex is recursive so that a callback may itself write to the store.
  static void notify(Subscribers& subs, const std::vector<std::string>& domains) {
    std::lock_guard lock(subs.mutex);
    std::vector<uint64_t> ids;
    for (const auto& [id, callback] : subs.callbacks) ids.push_back(id);
    for (const auto& domain : domains) {
      for (uint64_t id : ids) {
        auto it = subs.callbacks.find(id);  // a callback may have unsubscribed another
        if (it == subs.callbacks.end()) continue;
        auto callback = it->second;
        try {
          callback(domain);
        } catch (const std::exception& e) {
          log::f(log::Level::Error, "mtasts: a change subscriber failed for %s: %s", domain.c_str(), e.what());
        }
      }
    }
  }
};

// ---- opening ---------------------------------------------------------------------------

std::shared_ptr<PolicyStore> PolicyStore::open(Environment& env) {
  return env.shared<PolicyStore>("store.policies", [&] {
    if (env.check_only()) throw std::runtime_error("the store is not opened while checking a config");
    if (!env.storage_path()) throw std::runtime_error("no `storage:` folder is configured");
    // Readiness probes and the service manager wait for the index (seconds at millions of
    // domains); a store that fails to open withdraws the gate with its handle.
    auto index_loaded = Readiness::of(env)->add_gate("store-index-loaded");
    StorageOptions options;
    options.min_free_bytes = env.storage_min_free_bytes();
    auto store = std::make_shared<PolicyStore>(Database::open(*env.storage_path(), options), env.clock_ptr());
    store->impl_->metrics =
        metrics::metrics_registry(env)->add("store", [guard = &store->impl_->guard](metrics::MetricsWriter& writer) {
          write_health_metrics(guard->health(), writer);
        });
    index_loaded.open();
    return store;
  });
}

PolicyStore::PolicyStore(std::shared_ptr<Database> database, std::shared_ptr<Clock> clock)
    : impl_(std::make_unique<Impl>(std::move(database), clock)),
      clock_(std::move(clock)),
      time_floor_(read_time_floor(impl_->disk)) {
  auto loaded = load_store(impl_->disk, impl_->index, now());
  impl_->event_seq = loaded.event_seq;
  impl_->aligned_until = loaded.aligned_until;
  impl_->pending = std::move(loaded.pending);
  domain_count_.store(impl_->index.count(), std::memory_order_release);
  last_change_.store(loaded.newest_change, std::memory_order_release);
  impl_->guard.set_on_recovered([this] {
    if (impl_->gating_put_off.exchange(false)) gate_ungated_rotations();
  });
}

PolicyStore::PolicyStore(rocksdb::DB& db, std::shared_ptr<Clock> clock)
    : PolicyStore(Database::borrow(db), std::move(clock)) {}

PolicyStore::~PolicyStore() {
  // The recovery thread may call back into this object (set_on_recovered): it stops
  // while every member is still there.
  impl_->metrics.reset();
  impl_->guard.stop();
}

StoreHealth PolicyStore::health() const { return impl_->guard.health(); }

// ---- backups ---------------------------------------------------------------------------

BackupResult PolicyStore::backup(const std::filesystem::path& dir) {
  const auto started = std::chrono::steady_clock::now();
  std::lock_guard one_at_a_time(impl_->backup_mutex);
  const BackupTarget target = check_backup_target(dir, impl_->database->folder());
  BackupExpectation expected;
  {
    // No write is in flight while the checkpoint is taken: it ends with a whole write.
    std::lock_guard lock(impl_->mutex);
    if (const StoreHealth health = impl_->guard.health(); !health.writable || health.read_only) {
      throw StoreUnavailable("backup refused: the store refuses writes now (" + health.reason +
                             "), and a backup first copies the store's log inside its folder. Retry once it "
                             "accepts writes, or stop stsd and copy the folder (cp -a)");
    }
    try {
      create_checkpoint(impl_->disk.db(), target);
    } catch (...) {
      discard_backup(target);
      throw;
    }
    expected.domains = domain_count();
    expected.event_seq = impl_->event_seq;
  }
  BackupResult result = finish_backup(target, expected);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log::f(log::Level::Info, "store: backup of %zu domains (events up to %llu, %llu bytes in %zu files) written to %s in %.2f s",
         result.domains, static_cast<unsigned long long>(result.event_seq),
         static_cast<unsigned long long>(result.bytes), result.files, result.dir.c_str(), result.seconds);
  return result;
}

// ---- the write frame -------------------------------------------------------------------

void PolicyStore::write(const std::function<void(Transaction&)>& build) {
  std::vector<std::string> changed;
  {
    std::lock_guard lock(impl_->mutex);
    Impl& s = *impl_;
    Transaction tx(s.disk, s.index, s.name_room, s.event_seq, now());
    tx.set_change_floor(change_floor_.load(std::memory_order_acquire));
    build(tx);
    if (tx.empty()) return;
    const auto served = tx.finish();
    // Kept on disk: a removal, or a hold released in the period it began, leaves no
    // record time behind, and last_change() (the service zone's serial) must not go back
    // after a restart.
    const int64_t change_time = tx.change_stamp(last_change_.load(std::memory_order_acquire));
    if (!served.empty()) tx.batch().Put(std::string(keys::kLastChange), std::to_string(change_time));
    // Refused or failed (StoreUnavailable): nothing below ran (the queued index changes
    // are discarded), so memory is as it was.
    s.guard.admit();
    // A large write's new index shards are built on a thread of their own while the batch
    // commits (a bulk import request: about a tenth of its time); a small write's after.
    constexpr size_t kShardsBuiltAside = 1024;
    std::future<ServedIndex::Prepared> prepared;
    try {
      for (const auto& change : served) s.index.queue(change.domain, change.facts ? &*change.facts : nullptr);
      if (served.size() >= kShardsBuiltAside) {
        try {
          prepared = std::async(std::launch::async, [&index = s.index] { return index.prepare(); });
        } catch (const std::system_error&) {  // no thread to be had: built after the commit
        }
      }
      s.guard.commit(s.disk, tx.batch());
    } catch (...) {
      if (prepared.valid()) prepared.wait();
      s.index.discard();
      throw;
    }
    s.event_seq += tx.event_count();
    if (served.empty()) return;  // events only: nothing served changed
    for (const auto& change : served) {
      if (change.facts && change.facts->pending)
        s.pending.insert(change.domain);
      else
        s.pending.erase(change.domain);
      changed.push_back(change.domain);
    }
    s.index.publish(prepared.valid() ? prepared.get() : s.index.prepare());
    domain_count_.store(s.index.count(), std::memory_order_release);
    last_change_.store(change_time, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, changed);
}

void PolicyStore::write(std::string_view domain_text,
                        const std::function<void(Transaction&, const std::string& domain)>& build) {
  write([&](Transaction& tx) {
    const std::string domain = normalize_domain(domain_text);
    build(tx, domain);
  });
}

PolicyStore::Subscription PolicyStore::subscribe(std::function<void(const std::string& domain)> callback) {
  auto subs = impl_->subscribers;
  uint64_t id;
  {
    std::lock_guard lock(subs->mutex);
    id = subs->next_id++;
    subs->callbacks.emplace(id, std::move(callback));
  }
  std::weak_ptr<Impl::Subscribers> weak = subs;
  // Dropping the token unsubscribes; it waits for a running notification (same mutex), so
  // a callback never runs after its owner dropped the token.
  return Subscription(reinterpret_cast<void*>(id), [weak, id](void*) {
    if (auto s = weak.lock()) {
      std::lock_guard lock(s->mutex);
      s->callbacks.erase(id);
    }
  });
}

// ---- time ------------------------------------------------------------------------------

int64_t PolicyStore::now() const noexcept { return time_floor_.hold(unix_seconds(clock_->now())); }

void PolicyStore::renew_time_floor() {
  std::lock_guard lock(impl_->mutex);
  const auto lease = time_floor_.renewal(unix_seconds(clock_->now()));
  if (!lease) return;
  rocksdb::WriteBatch batch;
  batch.Put(std::string(keys::kTimeFloor), TimeFloor::encode(*lease));
  impl_->guard.admit();  // a write like any other: refused while the store cannot write
  impl_->guard.commit(impl_->disk, batch);
  time_floor_.renewed(*lease);
}

void PolicyStore::raise_change_floor(int64_t time) noexcept {
  int64_t floor = change_floor_.load(std::memory_order_relaxed);
  while (time > floor && !change_floor_.compare_exchange_weak(floor, time, std::memory_order_acq_rel)) {
  }
}

// ---- facts -----------------------------------------------------------------------------

namespace {
std::string fact_key(std::string_view name) {
  const bool valid = !name.empty() && name.size() <= 200 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '/' || c == '-';
  });
  if (!valid) throw PolicyError("store fact name '" + std::string(name) + "' is not [a-z0-9_./-]{1,200}");
  return std::string(keys::kFactPrefix) + std::string(name);
}
}  // namespace

std::optional<std::string> PolicyStore::fact(std::string_view name) const {
  const std::string key = fact_key(name);
  auto reading = impl_->database->read_lock();
  return impl_->disk.get(key);
}

void PolicyStore::put_fact(std::string_view name, std::string_view value) {
  const std::string key = fact_key(name);
  std::lock_guard lock(impl_->mutex);
  rocksdb::WriteBatch batch;
  batch.Put(key, std::string(value));
  impl_->guard.admit();
  impl_->guard.commit(impl_->disk, batch);
}

// ---- key spaces of other parts ----------------------------------------------------------

void PolicyStore::write_space(std::string_view space, const std::function<void(SpaceWrite&)>& build) {
  const std::string prefix = space_prefix(space);
  write([&](Transaction& tx) {
    SpaceWrite records(tx.disk(), tx.batch(), prefix);
    build(records);
  });
}

std::optional<std::string> PolicyStore::space_get(std::string_view space, std::string_view key) const {
  const std::string full = space_prefix(space) + std::string(key);
  auto reading = impl_->database->read_lock();
  return impl_->disk.get(full);
}

void PolicyStore::space_scan(std::string_view space, std::string_view key_prefix,
                             const std::function<bool(std::string_view key, std::string_view value)>& visit) const {
  const std::string prefix = space_prefix(space);
  auto reading = impl_->database->read_lock();
  scan_space(impl_->disk, prefix + std::string(key_prefix), [&](std::string_view key, std::string_view value) {
    return visit(key.substr(prefix.size()), value);
  });
}

// ---- configuration ---------------------------------------------------------------------

void PolicyStore::set_rotation(std::chrono::seconds rotation) {
  if (rotation.count() <= 0) throw PolicyError("rotation must be at least 1 second");
  impl_->rotation_seconds.store(rotation.count(), std::memory_order_release);
}

std::chrono::seconds PolicyStore::rotation() const noexcept {
  return std::chrono::seconds(impl_->rotation_seconds.load(std::memory_order_acquire));
}

RotationSchedule PolicyStore::schedule() const noexcept { return RotationSchedule{rotation(), impl_->aligned_until}; }

void PolicyStore::set_rotation_evidence_required(bool required) {
  impl_->rotation_evidence_required.store(required, std::memory_order_release);
}

bool PolicyStore::rotation_evidence_required() const noexcept {
  return impl_->rotation_evidence_required.load(std::memory_order_acquire);
}

void PolicyStore::require_name_room(size_t extra_octets, std::string why) {
  std::lock_guard lock(impl_->mutex);
  if (extra_octets > impl_->name_room.octets) {
    impl_->name_room.octets = extra_octets;
    impl_->name_room.why = std::move(why);
  }
}

size_t PolicyStore::gate_ungated_rotations() {
  // One sequential scan of the served records finds them (after the first start with a
  // verifier there are none); each batch is one write.
  std::vector<std::string> ungated;
  {
    auto reading = impl_->database->read_lock();
    rocksdb::ReadOptions options;
    options.fill_cache = false;
    const rocksdb::Slice upper(keys::kServedEnd.data(), keys::kServedEnd.size());
    options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(impl_->disk.db().NewIterator(options));
    Facts facts;
    for (it->Seek(std::string(keys::kServedPrefix)); it->Valid(); it->Next()) {
      const std::string domain = it->key().ToString().substr(keys::kServedPrefix.size());
      if (!decode_served_record(domain, std::string_view(it->value().data(), it->value().size()), facts))
        throw StoreError("store record " + it->key().ToString() + " is corrupt (not a served record of a domain)");
      if (facts.confirmed && !facts.rotate_until) ungated.push_back(domain);
    }
    if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  }
  constexpr size_t kBatch = 1000;
  size_t gated = 0;
  for (size_t from = 0; from < ungated.size(); from += kBatch) {
    size_t in_batch = 0;
    try {
      write([&](Transaction& tx) {
        for (size_t i = from; i < std::min(ungated.size(), from + kBatch); ++i) {
          if (!tx.contains(ungated[i])) continue;  // removed meanwhile
          DomainRecord r = tx.existing(ungated[i]);
          if (!r.confirmed || r.rotate_until) continue;
          r.rotate_until = tx.now();
          tx.put_record(ungated[i], r);
          ++in_batch;
        }
      });
    } catch (const StoreUnavailable& e) {
      // A start on a read-only store must still serve: the gating waits for writes.
      impl_->gating_put_off.store(true);
      log::f(log::Level::Warning,
             "mtasts: %zu domains are gated for rotation evidence once the store accepts "
             "writes again: %s",
             ungated.size() - from, e.what());
      break;
    }
    gated += in_batch;
  }
  return gated;
}

// ---- reads -----------------------------------------------------------------------------

std::vector<std::string> PolicyStore::domains() const { return domains(std::string(), SIZE_MAX); }

std::vector<std::string> PolicyStore::domains(const std::string& after, size_t limit) const {
  // The served records' keys, in RocksDB's (bytewise, = std::string) order.
  std::vector<std::string> out;
  if (limit == 0) return out;
  if (limit != SIZE_MAX)
    out.reserve(std::min<size_t>(limit, 4096));
  else
    out.reserve(domain_count());
  auto reading = impl_->database->read_lock();
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  const rocksdb::Slice upper(keys::kServedEnd.data(), keys::kServedEnd.size());
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->disk.db().NewIterator(options));
  const std::string start = std::string(keys::kServedPrefix) + after;
  for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
    std::string domain = it->key().ToString().substr(keys::kServedPrefix.size());
    if (!after.empty() && domain == after) continue;
    out.push_back(std::move(domain));
  }
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  return out;
}

std::vector<std::string> PolicyStore::pending_domains() const {
  std::lock_guard lock(impl_->mutex);
  return std::vector<std::string>(impl_->pending.begin(), impl_->pending.end());
}

bool PolicyStore::has_domain(std::string_view domain_text) const {
  std::string domain;
  try {
    domain = normalize_domain(domain_text);
  } catch (const PolicyError&) {
    return false;
  }
  return impl_->index.contains(domain);
}

std::optional<DomainStatus> PolicyStore::status(std::string_view domain_text, int64_t unix_now) const {
  unix_now = std::max(unix_now, time_floor_.floor());  // the id DNS shows, even while the clock is behind
  const std::string domain = normalize_domain(domain_text);
  if (!impl_->index.contains(domain)) return std::nullopt;
  std::optional<DomainRecord> record;
  {
    auto reading = impl_->database->read_lock();
    Snapshot snapshot(impl_->disk);
    record = impl_->disk.record(domain, snapshot.get());
  }
  if (!record) return std::nullopt;
  const DomainRecord& r = *record;
  DomainStatus st;
  st.domain = domain;
  st.settings = r.settings;
  st.created_at = r.created_at;
  if (r.staged) st.staged = *r.staged;
  if (r.confirmed) st.confirmed = *r.confirmed;
  st.confirmation = r.confirmation;
  st.hold = r.hold;
  st.rotate_until = r.rotate_until;
  st.retirement = r.retirement;
  if (r.confirmed) {
    const RotationSchedule schedule = this->schedule();
    const uint32_t hash = rotation_hash(domain);
    const Period current = period_at(unix_now, hash, schedule);
    const std::optional<int64_t> held_since = r.hold ? std::optional<int64_t>(r.hold->since) : std::nullopt;
    // What DNS shows: a zone shows a change at t from the second after it, ids included
    // (mtasts/zone_records.h), so right after changes within one second the id may be a
    // second or two ahead of the clock.
    const int64_t shown_time = std::max({unix_now, r.txt_changed_at + 1, change_floor() + 1});
    const Period shown = period_at(effective_time(shown_time, held_since, r.rotate_until), hash, schedule);
    st.served_id = policy_id(shown.label, schedule.rotation, r.confirmed->number, r.confirmed->digest);
    st.previous_id = policy_id(period_at(shown.start - 1, hash, schedule).label, schedule.rotation, r.confirmed->number,
                               r.confirmed->digest);
    st.rotation_offset = rotation_offset(hash, schedule.rotation);
    st.next_rotation = r.hold ? 0 : current.end;
    st.rotation_held = r.rotate_until && *r.rotate_until < current.start;
    if (st.rotation_held) st.rotation_held_since = period_at(*r.rotate_until, hash, schedule).end;
  }
  return st;
}

std::vector<Event> PolicyStore::events(std::string_view domain_text, size_t limit) const {
  const std::string domain = normalize_domain(domain_text);
  std::vector<Event> out;
  if (limit == 0) return out;
  const std::string prefix = keys::event_prefix(domain);
  auto reading = impl_->database->read_lock();
  std::unique_ptr<rocksdb::Iterator> it(impl_->disk.db().NewIterator(rocksdb::ReadOptions()));
  // Keys end in fixed-width sequence numbers: the last key under the prefix is the newest.
  for (it->SeekForPrev(prefix + "\xff"); it->Valid() && it->key().starts_with(prefix) && out.size() < limit;
       it->Prev()) {
    try {
      out.push_back(decode_event(std::string_view(it->value().data(), it->value().size())));
    } catch (const std::exception& e) {
      throw StoreError("store record " + it->key().ToString() + " is corrupt: " + e.what());
    }
  }
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  return out;
}

std::optional<PolicyVersion> PolicyStore::version(std::string_view domain_text, uint32_t number) const {
  const std::string domain = normalize_domain(domain_text);
  if (!impl_->index.contains(domain)) return std::nullopt;
  auto reading = impl_->database->read_lock();
  return impl_->disk.version(domain, number);
}

std::vector<ScheduledRemoval> PolicyStore::scheduled_removals() const {
  auto reading = impl_->database->read_lock();
  return scan_scheduled_removals(impl_->disk);
}

std::shared_ptr<const ServedDomain> PolicyStore::served(std::string_view domain_text) const {
  std::string domain;
  try {
    domain = normalize_domain(domain_text);
  } catch (const PolicyError&) {
    return nullptr;
  }
  if (!impl_->index.contains(domain)) return nullptr;  // most misses never touch the disk
  std::optional<DomainRecord> record;
  {
    auto reading = impl_->database->read_lock();
    Snapshot snapshot(impl_->disk);
    record = impl_->disk.record(domain, snapshot.get());
  }
  if (!record) return nullptr;  // removed meanwhile
  const DomainRecord& r = *record;
  auto s = std::make_shared<ServedDomain>();
  s->domain = domain;
  s->wire_key = wire_key(domain);
  if (r.confirmed)
    s->confirmed = ServedVersion{r.confirmed->number, r.confirmed->digest,
                                 r.confirmation ? r.confirmation->at : r.confirmed->created_at};
  if (r.staged) {
    s->staged = ServedVersion{r.staged->number, r.staged->digest, r.staged->created_at};
    s->staged_policy = render_policy(r.staged->policy);
  }
  if (r.hold) s->held_since = r.hold->since;
  s->rotate_until = r.rotate_until;
  s->rotation_hash = rotation_hash(domain);
  s->txt_changed_at = r.txt_changed_at;
  s->settings_changed_at = r.settings_changed_at;
  s->tlsrpt_txt = tlsrpt_record(r.settings.tlsrpt_rua);
  if (!s->tlsrpt_txt.empty()) {
    s->tlsrpt_rdata.push_back(static_cast<uint8_t>(s->tlsrpt_txt.size()));
    s->tlsrpt_rdata.insert(s->tlsrpt_rdata.end(), s->tlsrpt_txt.begin(), s->tlsrpt_txt.end());
  }
  return s;
}

ServedView PolicyStore::served_wire(std::span<const uint8_t> labels) const noexcept {
  return impl_->index.find(labels);
}

void PolicyStore::for_each_served(const std::function<void(const ServedView&)>& visit) const {
  impl_->index.for_each(visit);
}

bool PolicyStore::is_ancestor_wire(std::span<const uint8_t> labels) const noexcept {
  return impl_->index.is_ancestor(labels);
}

}  // namespace stsd::store
