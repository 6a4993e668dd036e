// The policy store: RocksDB records, the in-memory index, and the lock-free served view.
//
// Keys (default column family, all under "mtasts/" so the store can be shared):
//   mtasts/schema                 "1"                         schema version of this layout
//   mtasts/event_seq              decimal                     last event sequence number
//   mtasts/d/<domain>             JSON DomainRecord           settings + staged/confirmed pointers
//   mtasts/v/<domain>/<%010u>     JSON version                immutable numbered policy versions
//   mtasts/n/<domain>             decimal                     last version number of a removed domain
//   mtasts/e/<domain>/<%020u>     JSON event                  append-only event log
// Every state change is one WriteBatch written with sync=true, so an acknowledged change
// survives kill -9 and a pointer is never written without the version it points to.
#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include "clock.h"
#include "environment.h"
#include "logging.h"
#include "state.h"

namespace stsd::mtasts {

namespace {

using json = nlohmann::json;

constexpr std::string_view kSchemaKey = "mtasts/schema";
constexpr std::string_view kEventSeqKey = "mtasts/event_seq";
constexpr std::string_view kDomainPrefix = "mtasts/d/";
constexpr std::string_view kVersionPrefix = "mtasts/v/";
constexpr std::string_view kLastNumberPrefix = "mtasts/n/";
constexpr std::string_view kEventPrefix = "mtasts/e/";

constexpr size_t kShardCount = 1 << 16;   // small shards: a change republishes ~N/65536 entries
constexpr size_t kMaxReason = 1024;
constexpr size_t kMaxDetail = 8192;
constexpr size_t kMaxRua = 16;
constexpr size_t kMaxVantages = 64;

std::string domain_key(std::string_view d) { return std::string(kDomainPrefix).append(d); }
std::string last_number_key(std::string_view d) { return std::string(kLastNumberPrefix).append(d); }
std::string version_prefix(std::string_view d) { return std::string(kVersionPrefix).append(d).append("/"); }
std::string version_key(std::string_view d, uint32_t n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%010" PRIu32, n);
  return version_prefix(d) + buf;
}
std::string event_prefix(std::string_view d) { return std::string(kEventPrefix).append(d).append("/"); }
std::string event_key(std::string_view d, uint64_t seq) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020" PRIu64, seq);
  return event_prefix(d) + buf;
}

uint64_t fnv1a(std::span<const uint8_t> bytes) noexcept {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}
std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// "example.com" -> "\7example\3com" (lowercase wire labels, no root octet). Returns the
// length written into `out` (at most 254), or 0 when the text is not a domain name.
size_t wire_key_into(std::string_view text, uint8_t (&out)[256]) noexcept {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty() || text.size() > 253) return 0;
  size_t len = 0;
  size_t label_start = 0;
  out[len++] = 0;
  for (char c : text) {
    if (c == '.') {
      if (out[label_start] == 0) return 0;
      label_start = len;
      out[len++] = 0;
      continue;
    }
    if (out[label_start] == 63) return 0;
    out[label_start]++;
    out[len++] = static_cast<uint8_t>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  }
  if (out[label_start] == 0) return 0;
  return len;
}

std::string wire_key(std::string_view domain) {
  uint8_t buf[256];
  const size_t n = wire_key_into(domain, buf);
  return std::string(reinterpret_cast<const char*>(buf), n);
}

// ---- JSON forms of the records ---------------------------------------------------------

json version_to_json(const PolicyVersion& v) {
  return json{{"number", v.number},      {"mode", std::string(mode_name(v.policy.mode))},
              {"mx", v.policy.mx},       {"max_age", v.policy.max_age},
              {"created_at", v.created_at}, {"digest", v.digest}};
}

PolicyVersion version_from_json(const json& j) {
  PolicyVersion v;
  v.number = j.at("number").get<uint32_t>();
  auto mode = mode_from_string(j.at("mode").get<std::string>());
  if (!mode) throw std::runtime_error("unknown mode");
  v.policy.mode = *mode;
  v.policy.mx = j.at("mx").get<std::vector<std::string>>();
  v.policy.max_age = j.at("max_age").get<uint32_t>();
  v.created_at = j.at("created_at").get<int64_t>();
  v.digest = j.at("digest").get<std::string>();
  return v;
}

json event_to_json(const Event& e) {
  return json{{"seq", e.seq}, {"at", e.at}, {"kind", e.kind}, {"version", e.version}, {"detail", e.detail}};
}

Event event_from_json(const json& j) {
  Event e;
  e.seq = j.at("seq").get<uint64_t>();
  e.at = j.at("at").get<int64_t>();
  e.kind = j.at("kind").get<std::string>();
  e.version = j.at("version").get<uint32_t>();
  e.detail = j.at("detail").get<std::string>();
  return e;
}

std::string summary(const Policy& p) {
  std::string out = "mode " + std::string(mode_name(p.mode)) + ", mx ";
  for (size_t i = 0; i < p.mx.size(); ++i) out += (i ? " " : "") + p.mx[i];
  return out + ", max_age " + std::to_string(p.max_age);
}

Policy normalized(const Policy& p) {
  Policy out = p;
  out.mx.clear();
  std::set<std::string> seen;
  for (const auto& pattern : p.mx) {
    std::string l = pattern;
    for (auto& c : l) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (seen.insert(l).second) out.mx.push_back(std::move(l));
  }
  return out;
}

std::string bounded(std::string_view what, std::string_view text, size_t limit) {
  if (text.size() > limit)
    throw PolicyError(std::string(what) + " is longer than " + std::to_string(limit) + " bytes");
  return std::string(text);
}

}  // namespace

// ---------------------------------------------------------------------------------------

struct DomainRecord {
  DomainSettings settings;
  int64_t created_at = 0;
  // Shared: the confirmed version is usually the staged one (memory per domain matters
  // with a million domains).
  std::shared_ptr<const PolicyVersion> staged, confirmed;
  std::optional<Confirmation> confirmation;
  std::optional<Hold> hold;
  uint32_t last_number = 0;
  int64_t txt_changed_at = 0;
  int64_t settings_changed_at = 0;
};

namespace {

json record_to_json(const DomainRecord& r) {
  json j{{"created_at", r.created_at},
         {"tlsrpt_rua", r.settings.tlsrpt_rua},
         {"vantages", r.settings.vantages},
         {"staged", r.staged ? r.staged->number : 0},
         {"confirmed", r.confirmed ? r.confirmed->number : 0},
         {"last_number", r.last_number},
         {"txt_changed_at", r.txt_changed_at},
         {"settings_changed_at", r.settings_changed_at}};
  if (r.confirmation)
    j["confirmation"] = json{{"version", r.confirmation->version},
                             {"at", r.confirmation->at},
                             {"manual", r.confirmation->manual},
                             {"reason", r.confirmation->reason}};
  if (r.hold) j["hold"] = json{{"reason", r.hold->reason}, {"since", r.hold->since}};
  return j;
}

}  // namespace

struct PolicyState::Impl {
  struct Shard {
    std::vector<uint64_t> hashes;
    std::vector<std::shared_ptr<const ServedDomain>> entries;
    std::vector<uint64_t> ancestor_hashes;
    std::vector<std::string> ancestors;
  };
  struct ShardBuilder {
    std::vector<std::shared_ptr<const ServedDomain>> entries;
    std::vector<std::pair<std::string, uint32_t>> ancestors;   // wire key, number of domains below
  };
  struct Subscribers {
    std::recursive_mutex mutex;
    uint64_t next_id = 1;
    std::map<uint64_t, std::function<void(const std::string&)>> callbacks;
  };

  explicit Impl(rocksdb::DB& database) : db(database), shards(new std::atomic<std::shared_ptr<const Shard>>[kShardCount]), builders(kShardCount) {
    auto empty = std::make_shared<const Shard>();
    for (size_t i = 0; i < kShardCount; ++i) shards[i].store(empty, std::memory_order_relaxed);
  }

  rocksdb::DB& db;
  mutable std::mutex mutex;                    // writers and admin reads of `records`
  std::map<std::string, DomainRecord> records;
  uint64_t event_seq = 0;
  std::atomic<int64_t> rotation_seconds{86400};
  size_t name_room = 11;                       // `_smtp._tls.` (NS delegation)
  std::string name_room_why = "_smtp._tls.<domain>. must fit in 255 octets";

  std::unique_ptr<std::atomic<std::shared_ptr<const Shard>>[]> shards;
  std::vector<ShardBuilder> builders;
  std::vector<size_t> dirty;

  std::shared_ptr<Subscribers> subscribers = std::make_shared<Subscribers>();

  // Calls every subscriber with each changed domain, outside the store lock. The
  // subscribers' mutex is recursive so that a callback may itself write to the store.
  static void notify(Subscribers& subs, const std::vector<std::string>& domains) {
    std::lock_guard lock(subs.mutex);
    std::vector<uint64_t> ids;
    for (const auto& [id, callback] : subs.callbacks) ids.push_back(id);
    for (const auto& domain : domains) {
      for (uint64_t id : ids) {
        auto it = subs.callbacks.find(id);   // a callback may have unsubscribed another
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

  // ---- store helpers ----
  std::optional<std::string> get(std::string_view key) const {
    std::string value;
    auto s = db.Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) throw StoreError("store read of " + std::string(key) + " failed: " + s.ToString());
    return value;
  }

  void commit(rocksdb::WriteBatch& batch) {
    rocksdb::WriteOptions options;
    options.sync = true;   // durable when acknowledged (issue 3: survives kill -9)
    auto s = db.Write(options, &batch);
    if (!s.ok()) throw StoreError("store write failed (nothing changed): " + s.ToString());
  }

  std::optional<PolicyVersion> load_version(std::string_view domain, uint32_t number) const {
    auto value = get(version_key(domain, number));
    if (!value) return std::nullopt;
    try {
      return version_from_json(json::parse(*value));
    } catch (const std::exception& e) {
      throw StoreError("store record " + version_key(domain, number) + " is corrupt: " + e.what());
    }
  }

  void put_record(rocksdb::WriteBatch& batch, const std::string& domain, const DomainRecord& r) {
    batch.Put(domain_key(domain), record_to_json(r).dump());
  }

  // Appends an event to `batch`; `pending` counts the events already in this batch.
  Event add_event(rocksdb::WriteBatch& batch, uint64_t& pending, const std::string& domain, std::string kind,
                  uint32_t version, std::string detail, int64_t at) {
    Event e{event_seq + ++pending, at, std::move(kind), version, std::move(detail)};
    batch.Put(event_key(domain, e.seq), event_to_json(e).dump());
    batch.Put(std::string(kEventSeqKey), std::to_string(e.seq));
    return e;
  }

  // ---- validation ----
  std::string checked_domain(std::string_view domain) const { return normalize_domain(domain); }

  void check_name_room(const std::string& domain) const {
    if (domain.size() + 2 + name_room > 255)
      throw PolicyError("domain '" + domain + "' is too long: " + name_room_why + " (" +
                        std::to_string(domain.size() + 2 + name_room) + " octets)");
  }

  static DomainSettings checked_settings(const std::string& domain, const DomainSettings& s) {
    if (s.tlsrpt_rua.size() > kMaxRua)
      throw PolicyError(domain + ": at most " + std::to_string(kMaxRua) + " TLS-RPT rua URIs");
    for (const auto& uri : s.tlsrpt_rua) {
      auto error = tlsrpt_rua_error(uri);
      if (!error.empty()) throw PolicyError(domain + ": " + error);
    }
    // One TXT character-string holds 255 octets; a single string is what every reader
    // handles (MTA-STS-FACTS.md), so the record must fit in one.
    const auto record = tlsrpt_record(s.tlsrpt_rua);
    if (record.size() > 255)
      throw PolicyError(domain + ": the TLS-RPT record '" + record + "' is longer than 255 characters");
    if (s.vantages.size() > kMaxVantages)
      throw PolicyError(domain + ": at most " + std::to_string(kMaxVantages) + " vantages");
    for (const auto& v : s.vantages) {
      auto error = vantage_error(v);
      if (!error.empty()) throw PolicyError(domain + ": " + error);
    }
    return s;
  }

  static Policy checked_policy(const std::string& domain, const Policy& policy) {
    auto errors = policy_errors(policy);
    if (!errors.empty()) {
      std::string message = domain + ": ";
      for (size_t i = 0; i < errors.size(); ++i) message += (i ? "; " : "") + errors[i].message;
      throw PolicyError(message);
    }
    return normalized(policy);
  }

  DomainRecord& existing(const std::string& domain) {
    auto it = records.find(domain);
    if (it == records.end()) throw PolicyError("domain '" + domain + "' is not in the store (add it first)");
    return it->second;
  }

  // ---- the served view ----
  std::shared_ptr<const ServedDomain> make_served(const std::string& domain, const DomainRecord& r) const {
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
    s->txt_changed_at = r.txt_changed_at;
    s->settings_changed_at = r.settings_changed_at;
    s->tlsrpt_txt = tlsrpt_record(r.settings.tlsrpt_rua);
    if (!s->tlsrpt_txt.empty()) {
      s->tlsrpt_rdata.push_back(static_cast<uint8_t>(s->tlsrpt_txt.size()));
      s->tlsrpt_rdata.insert(s->tlsrpt_rdata.end(), s->tlsrpt_txt.begin(), s->tlsrpt_txt.end());
    }
    return s;
  }

  void mark_dirty(size_t shard) { dirty.push_back(shard); }

  void adjust_ancestors(const std::string& key, int delta) {
    // Every proper suffix of the wire labels: "\7example\3com" -> "\3com".
    size_t offset = static_cast<uint8_t>(key[0]) + 1;
    while (offset < key.size()) {
      std::string ancestor = key.substr(offset);
      const uint64_t h = fnv1a(as_bytes(ancestor));
      auto& list = builders[h & (kShardCount - 1)].ancestors;
      auto it = std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.first == ancestor; });
      if (delta > 0) {
        if (it == list.end()) {
          list.emplace_back(ancestor, 1);
          mark_dirty(h & (kShardCount - 1));
        } else {
          it->second++;
        }
      } else if (it != list.end() && --it->second == 0) {
        list.erase(it);
        mark_dirty(h & (kShardCount - 1));
      }
      offset += static_cast<uint8_t>(key[offset]) + 1;
    }
  }

  // Replaces (or, with nullptr, removes) the served entry of `domain` in the builders.
  void stage_served(const std::string& domain, const DomainRecord* record) {
    const std::string key = wire_key(domain);
    const uint64_t h = fnv1a(as_bytes(key));
    const size_t shard = h & (kShardCount - 1);
    auto& entries = builders[shard].entries;
    auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e->wire_key == key; });
    if (record) {
      auto entry = make_served(domain, *record);
      if (it == entries.end()) {
        entries.push_back(std::move(entry));
        adjust_ancestors(key, +1);
      } else {
        *it = std::move(entry);
      }
    } else if (it != entries.end()) {
      entries.erase(it);
      adjust_ancestors(key, -1);
    }
    mark_dirty(shard);
  }

  // Builds an immutable shard from each dirty builder and publishes it (release order:
  // a reader that sees the new shard sees its contents).
  // The one way a write lands: the synced batch first (a failure throws before memory
  // changes), then the record in memory (nullopt: removed), then readers see it.
  void apply(rocksdb::WriteBatch& batch, uint64_t pending_events, const std::string& domain,
             std::optional<DomainRecord> record) {
    commit(batch);
    event_seq += pending_events;
    if (record) {
      auto& slot = records[domain];
      slot = std::move(*record);
      stage_served(domain, &slot);
    } else {
      stage_served(domain, nullptr);
      records.erase(domain);
    }
    publish();
  }

  void publish() {
    std::sort(dirty.begin(), dirty.end());
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
    for (size_t index : dirty) {
      auto shard = std::make_shared<Shard>();
      const auto& b = builders[index];
      shard->entries = b.entries;
      for (const auto& e : b.entries) shard->hashes.push_back(fnv1a(as_bytes(e->wire_key)));
      for (const auto& [key, count] : b.ancestors) {
        shard->ancestors.push_back(key);
        shard->ancestor_hashes.push_back(fnv1a(as_bytes(key)));
      }
      shards[index].store(std::shared_ptr<const Shard>(std::move(shard)), std::memory_order_release);
    }
    dirty.clear();
  }
};

// ---------------------------------------------------------------------------------------

std::shared_ptr<PolicyState> PolicyState::get(Environment& env) {
  // Open the store before entering env.shared: its factory runs under the environment's
  // lock, which database() takes too.
  rocksdb::DB& db = env.database();
  return env.shared<PolicyState>("mtasts.state", [&] { return std::make_shared<PolicyState>(db, env.clock_ptr()); });
}

PolicyState::PolicyState(rocksdb::DB& db, std::shared_ptr<Clock> clock)
    : impl_(std::make_unique<Impl>(db)), clock_(std::move(clock)) {
  auto& s = *impl_;
  // Schema: refuse what a newer stsd wrote rather than misread it.
  if (auto schema = s.get(kSchemaKey)) {
    uint32_t found = 0;
    try {
      found = static_cast<uint32_t>(std::stoul(*schema));
    } catch (const std::exception&) {
      throw StoreError("store key mtasts/schema holds '" + *schema + "', not a schema version");
    }
    if (found > kSchemaVersion)
      throw StoreError("the store was written by a newer stsd (mtasts schema " + std::to_string(found) +
                       "; this stsd understands up to " + std::to_string(kSchemaVersion) +
                       "): upgrade stsd or restore a matching backup");
  } else {
    rocksdb::WriteBatch batch;
    batch.Put(std::string(kSchemaKey), std::to_string(kSchemaVersion));
    s.commit(batch);
  }
  if (auto seq = s.get(kEventSeqKey)) {
    try {
      s.event_seq = std::stoull(*seq);
    } catch (const std::exception&) {
      throw StoreError("store key mtasts/event_seq holds '" + *seq + "', not a number");
    }
  }

  int64_t newest = 0;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(std::string(kDomainPrefix)); it->Valid() && it->key().starts_with(std::string(kDomainPrefix)); it->Next()) {
    const std::string key = it->key().ToString();
    const std::string domain = key.substr(kDomainPrefix.size());
    DomainRecord r;
    uint32_t staged = 0, confirmed = 0;
    try {
      if (normalize_domain(domain) != domain) throw std::runtime_error("domain name not in normal form");
      const auto j = json::parse(it->value().ToString());
      r.created_at = j.at("created_at").get<int64_t>();
      r.settings.tlsrpt_rua = j.at("tlsrpt_rua").get<std::vector<std::string>>();
      r.settings.vantages = j.at("vantages").get<std::vector<std::string>>();
      staged = j.at("staged").get<uint32_t>();
      confirmed = j.at("confirmed").get<uint32_t>();
      r.last_number = j.at("last_number").get<uint32_t>();
      r.txt_changed_at = j.at("txt_changed_at").get<int64_t>();
      r.settings_changed_at = j.at("settings_changed_at").get<int64_t>();
      if (j.contains("confirmation")) {
        const auto& c = j["confirmation"];
        r.confirmation = Confirmation{c.at("version").get<uint32_t>(), c.at("at").get<int64_t>(),
                                      c.at("manual").get<bool>(), c.at("reason").get<std::string>()};
      }
      if (j.contains("hold")) r.hold = Hold{j["hold"].at("reason").get<std::string>(), j["hold"].at("since").get<int64_t>()};
    } catch (const std::exception& e) {
      throw StoreError("store record " + key + " is corrupt: " + e.what());
    }
    if (staged) {
      if (auto v = s.load_version(domain, staged)) r.staged = std::make_shared<const PolicyVersion>(std::move(*v));
      if (!r.staged)
        throw StoreError("store is inconsistent: " + domain + " staged version " + std::to_string(staged) + " is missing");
    }
    if (confirmed) {
      if (confirmed == staged)
        r.confirmed = r.staged;
      else if (auto v = s.load_version(domain, confirmed))
        r.confirmed = std::make_shared<const PolicyVersion>(std::move(*v));
      if (!r.confirmed)
        throw StoreError("store is inconsistent: " + domain + " confirmed version " + std::to_string(confirmed) +
                         " is missing");
    }
    newest = std::max({newest, r.txt_changed_at, r.settings_changed_at, r.created_at});
    auto [pos, inserted] = s.records.emplace(domain, std::move(r));
    s.stage_served(domain, &pos->second);
  }
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  s.publish();
  domain_count_.store(s.records.size(), std::memory_order_release);
  last_change_.store(newest, std::memory_order_release);
}

PolicyState::~PolicyState() = default;

void PolicyState::add_domain(std::string_view domain_text, const DomainSettings& settings_in) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    if (s.records.count(domain)) throw PolicyError("domain '" + domain + "' is already in the store");
    s.check_name_room(domain);
    DomainRecord r;
    r.settings = s.checked_settings(domain, settings_in);
    const int64_t now = unix_seconds(clock_->now());
    r.created_at = r.settings_changed_at = r.txt_changed_at = now;
    if (auto last = s.get(last_number_key(domain))) r.last_number = static_cast<uint32_t>(std::stoul(*last));
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    s.put_record(batch, domain, r);
    batch.Delete(last_number_key(domain));
    std::string detail = r.settings.tlsrpt_rua.empty() ? "" : tlsrpt_record(r.settings.tlsrpt_rua);
    s.add_event(batch, pending, domain, "domain_added", 0, detail, now);
    s.apply(batch, pending, domain, std::move(r));
    domain_count_.store(s.records.size(), std::memory_order_release);
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

void PolicyState::update_settings(std::string_view domain_text, const DomainSettings& settings_in) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    DomainRecord r = s.existing(domain);
    r.settings = s.checked_settings(domain, settings_in);
    const int64_t now = unix_seconds(clock_->now());
    r.settings_changed_at = now;
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    s.put_record(batch, domain, r);
    std::string detail = "tlsrpt: " + (r.settings.tlsrpt_rua.empty() ? std::string("none") : tlsrpt_record(r.settings.tlsrpt_rua)) +
                         "; vantages: " + std::to_string(r.settings.vantages.size());
    s.add_event(batch, pending, domain, "settings_updated", 0, detail, now);
    s.apply(batch, pending, domain, std::move(r));
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

void PolicyState::remove_domain(std::string_view domain_text) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    const DomainRecord& r = s.existing(domain);
    const int64_t now = unix_seconds(clock_->now());
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    batch.Delete(domain_key(domain));
    const std::string prefix = version_prefix(domain);
    std::unique_ptr<rocksdb::Iterator> it(s.db.NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) batch.Delete(it->key());
    if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
    // Keep the numbering so a re-added domain never reuses a version number.
    batch.Put(last_number_key(domain), std::to_string(r.last_number));
    s.add_event(batch, pending, domain, "removed", 0, "", now);
    s.apply(batch, pending, domain, std::nullopt);
    domain_count_.store(s.records.size(), std::memory_order_release);
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

StageResult PolicyState::stage(std::string_view domain_text, const Policy& policy_in, bool skip_if_unchanged) {
  std::string domain;
  StageResult result;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    DomainRecord r = s.existing(domain);
    const Policy policy = s.checked_policy(domain, policy_in);
    result.warnings = policy_warnings(policy_in, r.confirmed ? &r.confirmed->policy : nullptr);
    if (skip_if_unchanged && r.staged && same_policy(r.staged->policy, policy)) {
      result.version = r.staged->number;
      result.created = false;
      return result;
    }
    if (r.last_number == UINT32_MAX) throw PolicyError(domain + ": version numbers exhausted");
    const int64_t now = unix_seconds(clock_->now());
    PolicyVersion v{r.last_number + 1, policy, now, policy_digest(policy)};
    r.last_number = v.number;
    r.staged = std::make_shared<const PolicyVersion>(v);
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    batch.Put(version_key(domain, v.number), version_to_json(v).dump());
    s.put_record(batch, domain, r);
    s.add_event(batch, pending, domain, "staged", v.number, summary(policy) + ", digest " + v.digest.substr(0, 12), now);
    s.apply(batch, pending, domain, std::move(r));
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    result.version = v.number;
    result.created = true;
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
  return result;
}

void PolicyState::confirm(std::string_view domain_text, uint32_t version, bool manual, std::string_view reason_in,
                          std::string_view detail_in) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    DomainRecord r = s.existing(domain);
    const std::string reason = bounded("reason", reason_in, kMaxReason);
    const std::string detail = bounded("detail", detail_in, kMaxDetail);
    if (manual && reason.empty()) throw PolicyError(domain + ": a manual confirmation needs a reason");
    if (r.confirmed && version < r.confirmed->number)
      throw PolicyError(domain + ": version " + std::to_string(version) + " is older than the confirmed version " +
                        std::to_string(r.confirmed->number) + " (to roll back, stage the old policy again)");
    std::shared_ptr<const PolicyVersion> target;
    if (r.staged && r.staged->number == version)
      target = r.staged;
    else if (r.confirmed && r.confirmed->number == version)
      target = r.confirmed;
    else if (version >= 1 && version <= r.last_number)
      if (auto v = s.load_version(domain, version)) target = std::make_shared<const PolicyVersion>(std::move(*v));
    if (!target) throw PolicyError(domain + ": there is no version " + std::to_string(version));
    const int64_t now = unix_seconds(clock_->now());
    const bool moves = !r.confirmed || r.confirmed->number != version;
    r.confirmed = target;
    r.confirmation = Confirmation{version, now, manual, reason};
    if (moves || r.hold) r.txt_changed_at = now;
    const bool released = r.hold.has_value();
    r.hold.reset();   // a confirmation says what is served now: nothing left to hold for
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    s.put_record(batch, domain, r);
    std::string event_detail = reason;
    if (!detail.empty()) event_detail += (event_detail.empty() ? "" : ": ") + detail;
    s.add_event(batch, pending, domain, manual ? "manual_confirm" : "confirmed", version, event_detail, now);
    if (released) s.add_event(batch, pending, domain, "hold_released", version, "released by the confirmation", now);
    s.apply(batch, pending, domain, std::move(r));
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

void PolicyState::record_event(std::string_view domain_text, std::string_view kind, uint32_t version,
                               std::string_view detail) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    s.existing(domain);
    if (kind.empty() || kind.size() > 32 ||
        !std::all_of(kind.begin(), kind.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }))
      throw PolicyError("event kind '" + std::string(kind) + "' must be 1-32 characters of a-z, 0-9 and _");
    const int64_t now = unix_seconds(clock_->now());
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    s.add_event(batch, pending, domain, std::string(kind), version, bounded("detail", detail, kMaxDetail), now);
    s.commit(batch);
    s.event_seq += pending;
  }
}

void PolicyState::set_hold(std::string_view domain_text, std::optional<std::string> reason) {
  std::string domain;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    domain = s.checked_domain(domain_text);
    DomainRecord r = s.existing(domain);
    const int64_t now = unix_seconds(clock_->now());
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    if (reason) {
      const std::string text = bounded("hold reason", *reason, kMaxReason);
      if (text.empty()) throw PolicyError(domain + ": a hold needs a reason");
      if (!r.confirmed) throw PolicyError(domain + ": nothing is confirmed, so there is no id to hold");
      if (r.hold && r.hold->reason == text) return;   // already held for this reason
      if (!r.hold) r.hold = Hold{text, now};
      else r.hold->reason = text;                     // keeps `since`: the id stays frozen
      s.add_event(batch, pending, domain, "hold", r.confirmed->number, text, now);
    } else {
      if (!r.hold) return;
      r.hold.reset();
      r.txt_changed_at = now;   // the id jumps to the current period
      s.add_event(batch, pending, domain, "hold_released", r.confirmed ? r.confirmed->number : 0, "", now);
    }
    s.put_record(batch, domain, r);
    s.apply(batch, pending, domain, std::move(r));
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, {domain});   // outside the store lock
}

std::vector<ImportResult> PolicyState::import(const std::vector<ImportItem>& items, bool confirm_now,
                                              std::string_view reason_in) {
  std::vector<ImportResult> results;
  std::vector<std::string> changed;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = *impl_;
    const std::string reason = bounded("reason", reason_in, kMaxReason);
    if (confirm_now && reason.empty()) throw PolicyError("confirming imported policies needs a reason");
    // Validate everything first: a bad item changes nothing.
    struct Checked {
      std::string domain;
      std::optional<DomainSettings> settings;
      Policy policy;
    };
    std::vector<Checked> checked;
    checked.reserve(items.size());
    std::set<std::string> seen;
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string where = "item " + std::to_string(i + 1) + ": ";
      try {
        Checked c;
        c.domain = s.checked_domain(items[i].domain);
        if (!seen.insert(c.domain).second) throw PolicyError("domain '" + c.domain + "' appears twice in one import batch");
        if (!s.records.count(c.domain)) s.check_name_room(c.domain);
        if (items[i].settings) c.settings = s.checked_settings(c.domain, *items[i].settings);
        c.policy = s.checked_policy(c.domain, items[i].policy);
        checked.push_back(std::move(c));
      } catch (const PolicyError& e) {
        throw PolicyError(where + e.what());
      }
    }
    const int64_t now = unix_seconds(clock_->now());
    rocksdb::WriteBatch batch;
    uint64_t pending = 0;
    std::vector<std::pair<std::string, DomainRecord>> updated;
    for (size_t i = 0; i < checked.size(); ++i) {
      auto& c = checked[i];
      ImportResult res;
      res.domain = c.domain;
      DomainRecord r;
      bool changed_record = false;
      if (auto it = s.records.find(c.domain); it != s.records.end()) {
        r = it->second;
        if (c.settings && (c.settings->tlsrpt_rua != r.settings.tlsrpt_rua || c.settings->vantages != r.settings.vantages)) {
          r.settings = *c.settings;
          r.settings_changed_at = now;
          s.add_event(batch, pending, c.domain, "settings_updated", 0, "import", now);
          changed_record = true;
        }
      } else {
        if (c.settings) r.settings = *c.settings;
        r.created_at = r.settings_changed_at = r.txt_changed_at = now;
        if (auto last = s.get(last_number_key(c.domain))) r.last_number = static_cast<uint32_t>(std::stoul(*last));
        batch.Delete(last_number_key(c.domain));
        s.add_event(batch, pending, c.domain, "domain_added", 0, "import", now);
        res.domain_added = true;
        changed_record = true;
      }
      res.stage.warnings = policy_warnings(items[i].policy, r.confirmed ? &r.confirmed->policy : nullptr);
      if (r.staged && same_policy(r.staged->policy, c.policy)) {
        res.stage.version = r.staged->number;
      } else {
        if (r.last_number == UINT32_MAX) throw PolicyError("item " + std::to_string(i + 1) + ": version numbers exhausted");
        PolicyVersion v{r.last_number + 1, c.policy, now, policy_digest(c.policy)};
        r.last_number = v.number;
        r.staged = std::make_shared<const PolicyVersion>(v);
        batch.Put(version_key(c.domain, v.number), version_to_json(v).dump());
        s.add_event(batch, pending, c.domain, "staged", v.number, summary(c.policy) + ", digest " + v.digest.substr(0, 12) + " (import)", now);
        res.stage.version = v.number;
        res.stage.created = true;
        changed_record = true;
      }
      if (confirm_now && r.staged && (!r.confirmed || r.confirmed->number < r.staged->number)) {
        r.confirmed = r.staged;
        r.confirmation = Confirmation{r.staged->number, now, true, reason};
        r.txt_changed_at = now;
        r.hold.reset();
        s.add_event(batch, pending, c.domain, "manual_confirm", r.staged->number, reason + " (import)", now);
        res.confirmed = true;
        changed_record = true;
      }
      if (changed_record) {
        s.put_record(batch, c.domain, r);
        updated.emplace_back(c.domain, std::move(r));
      }
      results.push_back(std::move(res));
    }
    if (updated.empty()) return results;
    s.commit(batch);
    s.event_seq += pending;
    for (auto& [domain, r] : updated) {
      s.records[domain] = std::move(r);
      s.stage_served(domain, &s.records[domain]);
      changed.push_back(domain);
    }
    s.publish();
    domain_count_.store(s.records.size(), std::memory_order_release);
    last_change_.store(now, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  Impl::notify(*impl_->subscribers, changed);
  return results;
}

// ---- reads ----------------------------------------------------------------------------

std::vector<std::string> PolicyState::domains() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<std::string> out;
  out.reserve(impl_->records.size());
  for (const auto& [domain, r] : impl_->records) out.push_back(domain);
  return out;
}

std::vector<std::string> PolicyState::pending_domains() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<std::string> out;
  for (const auto& [domain, r] : impl_->records)
    if (r.staged && (!r.confirmed || r.staged->number > r.confirmed->number)) out.push_back(domain);
  return out;
}

bool PolicyState::has_domain(std::string_view domain_text) const {
  std::string domain;
  try {
    domain = normalize_domain(domain_text);
  } catch (const PolicyError&) {
    return false;
  }
  std::lock_guard lock(impl_->mutex);
  return impl_->records.count(domain) > 0;
}

std::optional<DomainStatus> PolicyState::status(std::string_view domain_text, int64_t unix_now) const {
  const std::string domain = normalize_domain(domain_text);
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->records.find(domain);
  if (it == impl_->records.end()) return std::nullopt;
  const DomainRecord& r = it->second;
  DomainStatus st;
  st.domain = domain;
  st.settings = r.settings;
  st.created_at = r.created_at;
  if (r.staged) st.staged = *r.staged;
  if (r.confirmed) st.confirmed = *r.confirmed;
  st.confirmation = r.confirmation;
  st.hold = r.hold;
  if (r.confirmed) {
    const auto rotation = this->rotation();
    const int64_t period = period_start(r.hold ? r.hold->since : unix_now, rotation);
    st.served_id = policy_id(period, rotation, r.confirmed->number, r.confirmed->digest);
    st.next_rotation = r.hold ? 0 : period_start(unix_now, rotation) + rotation.count();
  }
  return st;
}

std::vector<Event> PolicyState::events(std::string_view domain_text, size_t limit) const {
  const std::string domain = normalize_domain(domain_text);
  std::vector<Event> out;
  if (limit == 0) return out;
  const std::string prefix = event_prefix(domain);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db.NewIterator(rocksdb::ReadOptions()));
  // Keys end in fixed-width sequence numbers: the last key under the prefix is the newest.
  for (it->SeekForPrev(prefix + "\xff"); it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Prev()) {
    try {
      out.push_back(event_from_json(json::parse(it->value().ToString())));
    } catch (const std::exception& e) {
      throw StoreError("store record " + it->key().ToString() + " is corrupt: " + e.what());
    }
  }
  if (!it->status().ok()) throw StoreError("store scan failed: " + it->status().ToString());
  return out;
}

std::optional<PolicyVersion> PolicyState::version(std::string_view domain_text, uint32_t number) const {
  const std::string domain = normalize_domain(domain_text);
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->records.count(domain)) return std::nullopt;
  }
  return impl_->load_version(domain, number);
}

std::shared_ptr<const ServedDomain> PolicyState::served(std::string_view domain) const noexcept {
  uint8_t key[256];
  const size_t n = wire_key_into(domain, key);
  if (n == 0) return nullptr;
  return served_wire({key, n});
}

std::shared_ptr<const ServedDomain> PolicyState::served_wire(std::span<const uint8_t> labels) const noexcept {
  const uint64_t h = fnv1a(labels);
  const auto shard = impl_->shards[h & (kShardCount - 1)].load(std::memory_order_acquire);
  for (size_t i = 0; i < shard->hashes.size(); ++i) {
    if (shard->hashes[i] != h) continue;
    const auto& key = shard->entries[i]->wire_key;
    if (key.size() == labels.size() && std::memcmp(key.data(), labels.data(), key.size()) == 0) return shard->entries[i];
  }
  return nullptr;
}

bool PolicyState::is_ancestor_wire(std::span<const uint8_t> labels) const noexcept {
  const uint64_t h = fnv1a(labels);
  const auto shard = impl_->shards[h & (kShardCount - 1)].load(std::memory_order_acquire);
  for (size_t i = 0; i < shard->ancestor_hashes.size(); ++i) {
    if (shard->ancestor_hashes[i] != h) continue;
    const auto& key = shard->ancestors[i];
    if (key.size() == labels.size() && std::memcmp(key.data(), labels.data(), key.size()) == 0) return true;
  }
  return false;
}

void PolicyState::set_rotation(std::chrono::seconds rotation) {
  if (rotation.count() <= 0) throw PolicyError("rotation must be at least 1 second");
  impl_->rotation_seconds.store(rotation.count(), std::memory_order_release);
}

std::chrono::seconds PolicyState::rotation() const noexcept {
  return std::chrono::seconds(impl_->rotation_seconds.load(std::memory_order_acquire));
}

void PolicyState::require_name_room(size_t extra_octets, std::string why) {
  std::lock_guard lock(impl_->mutex);
  if (extra_octets > impl_->name_room) {
    impl_->name_room = extra_octets;
    impl_->name_room_why = std::move(why);
  }
}

PolicyState::Subscription PolicyState::subscribe(std::function<void(const std::string& domain)> callback) {
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

}  // namespace stsd::mtasts
