// The RocksDB policy store: validation before writing, atomic durable changes, the
// in-memory index, the schema guard and the served view.
#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <gtest/gtest.h>

#include "clock.h"
#include "store/policy_store.h"
#include "temp_store.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::store {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

constexpr int64_t kStart = 1735689600;   // 2025-01-01T00:00:00Z

Policy enforce(std::initializer_list<const char*> mx, uint32_t max_age = 604800) {
  Policy p;
  p.mode = Mode::Enforce;
  for (auto m : mx) p.mx.emplace_back(m);
  p.max_age = max_age;
  return p;
}

class Store : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kStart)));
    state_ = std::make_unique<PolicyStore>(store_.db(), clock_);
  }
  void restart() {
    state_.reset();
    store_.reopen();
    state_ = std::make_unique<PolicyStore>(store_.db(), clock_);
  }
  DomainStatus status(const char* domain) { return *state_->status(domain, unix_seconds(clock_->now())); }

  test_support::TempStore store_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PolicyStore> state_;
};

TEST_F(Store, AddStageConfirmSurviveARestart) {
  state_->add_domain("Example.COM", DomainSettings{{"mailto:tls@example.com"}, {"192.0.2.7"}});
  const auto v1 = state_->stage("example.com", enforce({"mx1.example.com"}), false);
  EXPECT_EQ(v1.version, 1u);
  EXPECT_TRUE(v1.created);
  state_->confirm("example.com", 1, true, "served since Monday");
  const auto v2 = state_->stage("example.com", enforce({"mx1.example.com", "mx2.example.com"}), false);
  EXPECT_EQ(v2.version, 2u);
  const auto before = status("example.com");
  restart();
  const auto after = status("example.com");
  EXPECT_EQ(after.domain, "example.com");
  EXPECT_EQ(after.settings.tlsrpt_rua, before.settings.tlsrpt_rua);
  EXPECT_EQ(after.settings.vantages, (std::vector<std::string>{"192.0.2.7"}));
  ASSERT_TRUE(after.staged && after.confirmed && after.confirmation);
  EXPECT_EQ(after.staged->number, 2u);
  EXPECT_EQ(after.confirmed->number, 1u);
  EXPECT_TRUE(after.confirmation->manual);
  EXPECT_EQ(after.confirmation->reason, "served since Monday");
  EXPECT_EQ(after.served_id, before.served_id);
  EXPECT_EQ(after.staged->digest, policy_digest(enforce({"mx1.example.com", "mx2.example.com"})));
  EXPECT_EQ(state_->domains(), (std::vector<std::string>{"example.com"}));
  EXPECT_EQ(state_->pending_domains(), (std::vector<std::string>{"example.com"}));
}

TEST_F(Store, VersionsAreImmutableAndReadable) {
  state_->add_domain("example.com", {});
  state_->stage("example.com", enforce({"mx1.example.com"}), false);
  state_->stage("example.com", enforce({"mx2.example.com"}), false);
  auto v1 = state_->version("example.com", 1);
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->policy.mx, (std::vector<std::string>{"mx1.example.com"}));
  EXPECT_EQ(v1->created_at, kStart);
  EXPECT_FALSE(state_->version("example.com", 3));
  EXPECT_FALSE(state_->version("other.example", 1));
}

TEST_F(Store, StageSkipsAnUnchangedPolicy) {
  state_->add_domain("example.com", {});
  state_->stage("example.com", enforce({"mx1.example.com", "mx2.example.com"}), true);
  const auto again = state_->stage("example.com", enforce({"MX2.example.com", "mx1.example.com"}), true);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.version, 1u);
  const auto forced = state_->stage("example.com", enforce({"mx1.example.com", "mx2.example.com"}), false);
  EXPECT_TRUE(forced.created);
  EXPECT_EQ(forced.version, 2u);
}

TEST_F(Store, StageWarnsAboutLoweringMaxAge) {
  state_->add_domain("example.com", {});
  state_->confirm("example.com", state_->stage("example.com", enforce({"mx.example.com"}, 604800), false).version, true, "t");
  const auto lower = state_->stage("example.com", enforce({"mx.example.com"}, 86400), false);
  ASSERT_EQ(lower.warnings.size(), 1u);
  EXPECT_NE(lower.warnings[0].message.find("lowered"), std::string::npos);
}

struct BadWrite {
  const char* name;
  std::function<void(PolicyStore&)> write;
  const char* expect;
};

TEST_F(Store, BadInputIsRefusedAndChangesNothing) {
  state_->add_domain("example.com", {});
  state_->confirm("example.com", state_->stage("example.com", enforce({"mx1.example.com"}), false).version, true, "t");
  state_->stage("example.com", enforce({"mx2.example.com"}), false);
  const std::vector<BadWrite> cases = {
      {"duplicate domain", [](PolicyStore& s) { s.add_domain("EXAMPLE.com.", {}); }, "already in the store"},
      {"bad domain", [](PolicyStore& s) { s.add_domain("exa_mple.com", {}); }, "exa_mple.com"},
      {"ip as domain", [](PolicyStore& s) { s.add_domain("192.0.2.1", {}); }, "IP address"},
      {"bad rua", [](PolicyStore& s) { s.add_domain("b.example", DomainSettings{{"http://r.example/"}, {}}); }, "mailto: or https:"},
      {"bad vantage", [](PolicyStore& s) { s.update_settings("example.com", DomainSettings{{}, {"edge1"}}); }, "vantage 'edge1'"},
      {"unknown domain stage", [](PolicyStore& s) { s.stage("nope.example", enforce({"mx.example.com"}), false); }, "not in the store"},
      {"ip mx", [](PolicyStore& s) { s.stage("example.com", enforce({"192.0.2.25"}), false); }, "IP address"},
      {"no mx", [](PolicyStore& s) { s.stage("example.com", enforce({}), false); }, "mx pattern is required"},
      {"max_age too long", [](PolicyStore& s) { s.stage("example.com", enforce({"mx.example.com"}, kMaxMaxAge + 1), false); }, "exceeds"},
      {"confirm missing version", [](PolicyStore& s) { s.confirm("example.com", 9, true, "r"); }, "no version 9"},
      {"confirm version 0", [](PolicyStore& s) { s.confirm("example.com", 0, true, "r"); }, "older than the confirmed"},
      {"manual confirm without reason", [](PolicyStore& s) { s.confirm("example.com", 2, true, ""); }, "needs a reason"},
      {"bad event kind", [](PolicyStore& s) { s.record_event("example.com", "Bad Kind", 0, ""); }, "event kind"},
      {"empty hold reason", [](PolicyStore& s) { s.set_hold("example.com", std::string()); }, "needs a reason"},
      {"remove unknown", [](PolicyStore& s) { s.remove_domain("nope.example"); }, "not in the store"},
  };
  const auto before = status("example.com");
  const auto events_before = state_->events("example.com", 100).size();
  const auto generation = state_->generation();
  for (const auto& c : cases) {
    try {
      c.write(*state_);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const PolicyError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << c.name << ": " << e.what();
    }
  }
  const auto after = status("example.com");
  EXPECT_EQ(after.staged->number, before.staged->number);
  EXPECT_EQ(after.confirmed->number, before.confirmed->number);
  EXPECT_EQ(after.settings.vantages, before.settings.vantages);
  EXPECT_EQ(state_->events("example.com", 100).size(), events_before);
  EXPECT_EQ(state_->generation(), generation);
  EXPECT_EQ(state_->domains().size(), 1u);
}

TEST_F(Store, ConfirmNeverMovesBackwards) {
  state_->add_domain("example.com", {});
  state_->stage("example.com", enforce({"mx1.example.com"}), false);
  state_->stage("example.com", enforce({"mx2.example.com"}), false);
  state_->confirm("example.com", 2, false, "", "seen at every vantage");
  EXPECT_THROW(state_->confirm("example.com", 1, false, "", "late prober"), PolicyError);
  EXPECT_EQ(status("example.com").confirmed->number, 2u);
  // Confirming the same version again only records it.
  state_->confirm("example.com", 2, true, "re-checked by hand");
  EXPECT_EQ(status("example.com").confirmed->number, 2u);
  EXPECT_EQ(state_->events("example.com", 1).front().kind, "manual_confirm");
}

TEST_F(Store, EventsAreAppendOnlyNewestFirst) {
  state_->add_domain("example.com", {});
  state_->stage("example.com", enforce({"mx1.example.com"}), false);
  state_->confirm("example.com", 1, true, "by hand");
  state_->record_event("example.com", "probe_failed", 1, "edge 192.0.2.7: 404");
  state_->set_hold("example.com", std::string("drift"));
  state_->set_hold("example.com", std::nullopt);
  const auto events = state_->events("example.com", 100);
  std::vector<std::string> kinds;
  for (const auto& e : events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"hold_released", "hold", "probe_failed", "manual_confirm", "staged", "domain_added"}));
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i - 1].seq, events[i].seq);
  EXPECT_EQ(events[3].detail, "by hand");
  EXPECT_EQ(state_->events("example.com", 2).size(), 2u);
  restart();
  state_->record_event("example.com", "note", 0, "after restart");
  EXPECT_GT(state_->events("example.com", 1).front().seq, events.front().seq) << "sequence continues after a restart";
}

TEST_F(Store, RemovedDomainKeepsItsLogAndNumbering) {
  state_->add_domain("example.com", {});
  state_->stage("example.com", enforce({"mx1.example.com"}), false);
  state_->stage("example.com", enforce({"mx2.example.com"}), false);
  state_->remove_domain("example.com");
  EXPECT_FALSE(state_->has_domain("example.com"));
  EXPECT_FALSE(state_->served("example.com"));
  EXPECT_EQ(state_->events("example.com", 1).front().kind, "removed");
  restart();
  EXPECT_FALSE(state_->has_domain("example.com"));
  state_->add_domain("example.com", {});
  EXPECT_EQ(state_->stage("example.com", enforce({"mx3.example.com"}), false).version, 3u)
      << "a re-added domain never reuses a version number";
  EXPECT_FALSE(state_->version("example.com", 1)) << "old versions went with the removal";
}

// An import looks the kept numbers of its new domains up together (one walk in key
// order): removed domains next to each other, far apart, before and after every other
// name of the request, each resumes its own numbering; the others start at 1.
TEST_F(Store, ImportResumesTheNumberingOfEveryRemovedDomain) {
  std::map<std::string, uint32_t> removed;  // domain -> its last version number
  for (int i : {0, 1, 2, 57, 58, 400, 999}) {
    const std::string domain = "d" + std::to_string(1000 + i) + ".example";
    state_->add_domain(domain, {});
    for (int v = 0; v <= i % 4; ++v)
      state_->stage(domain, enforce({v % 2 ? "mx1.example" : "mx0.example"}), false);
    state_->remove_domain(domain, RemovalCheck::Force);
    removed[domain] = 1 + i % 4;
  }
  // Removed domains the request does not name, between names it does: one (a step
  // forward) and twenty (a seek past them).
  for (const std::string& between : {std::string("d1200a")}) {
    state_->add_domain(between + ".example", {});
    state_->remove_domain(between + ".example", RemovalCheck::Force);
  }
  for (char c = 'a'; c < 'a' + 20; ++c) {
    state_->add_domain(std::string("d1300") + c + ".example", {});
    state_->remove_domain(std::string("d1300") + c + ".example", RemovalCheck::Force);
  }
  state_->add_domain("a-removed-before-every-name.example", {});
  state_->stage("a-removed-before-every-name.example", enforce({"mx.example"}), false);
  state_->remove_domain("a-removed-before-every-name.example", RemovalCheck::Force);
  state_->add_domain("z-removed-after-every-name.example", {});
  state_->stage("z-removed-after-every-name.example", enforce({"mx.example"}), false);
  state_->remove_domain("z-removed-after-every-name.example", RemovalCheck::Force);

  std::vector<ImportItem> items;
  for (int i = 999; i >= 0; --i)  // not in key order
    items.push_back({"d" + std::to_string(1000 + i) + ".example", std::nullopt, enforce({"mx.new.example"})});
  EXPECT_TRUE(state_->check_import(items, false, "").empty());
  state_->import(items, false, "");
  for (int i = 0; i < 1000; ++i) {
    const std::string domain = "d" + std::to_string(1000 + i) + ".example";
    const auto found = removed.find(domain);
    EXPECT_EQ(status(domain.c_str()).staged->number, found == removed.end() ? 1u : found->second + 1) << domain;
  }
  EXPECT_FALSE(state_->has_domain("a-removed-before-every-name.example"));
  EXPECT_FALSE(state_->has_domain("d1300a.example"));
  state_->import({{"z-removed-after-every-name.example", std::nullopt, enforce({"mx2.example"})}}, false, "");
  EXPECT_EQ(status("z-removed-after-every-name.example").staged->number, 2u);
}

TEST_F(Store, RefusesAStoreFromANewerSchema) {
  rocksdb::WriteBatch batch;
  batch.Put("mtasts/schema", std::to_string(PolicyStore::kSchemaVersion + 1));
  ASSERT_TRUE(store_.db().Write(rocksdb::WriteOptions(), &batch).ok());
  state_.reset();
  try {
    PolicyStore newer(store_.db(), clock_);
    ADD_FAILURE() << "opened a store written by a newer schema";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("newer stsd"), std::string::npos) << e.what();
  }
}

TEST_F(Store, RefusesACorruptServedRecordWithItsKey) {
  // Start-up reads only the served records: a corrupt one stops it, naming the key.
  rocksdb::WriteBatch batch;
  batch.Put("mtasts/s/example.com", std::string("\x01\x01garbage", 9));
  ASSERT_TRUE(store_.db().Write(rocksdb::WriteOptions(), &batch).ok());
  state_.reset();
  try {
    PolicyStore corrupt(store_.db(), clock_);
    ADD_FAILURE() << "opened a corrupt store";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("mtasts/s/example.com"), std::string::npos) << e.what();
  }
}

TEST_F(Store, ACorruptDomainRecordIsReportedWithItsKey) {
  // The JSON record is read when an admin read or a write needs it.
  state_->add_domain("example.com", {});
  rocksdb::WriteBatch batch;
  batch.Put("mtasts/d/example.com", "{not json");
  ASSERT_TRUE(store_.db().Write(rocksdb::WriteOptions(), &batch).ok());
  for (const auto& read : std::vector<std::function<void()>>{
           [&] { state_->status("example.com", kStart); },
           [&] { state_->served("example.com"); },
           [&] { state_->stage("example.com", enforce({"mx.example.com"}), false); }}) {
    try {
      read();
      ADD_FAILURE() << "read a corrupt record";
    } catch (const StoreError& e) {
      EXPECT_NE(std::string(e.what()).find("mtasts/d/example.com"), std::string::npos) << e.what();
    }
  }
}

// A store as schema 1 left it: the same JSON records, no served records.
void downgrade_to_schema_1(rocksdb::DB& db) {
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("mtasts/s/"); it->Valid() && it->key().starts_with("mtasts/s/"); it->Next()) batch.Delete(it->key());
  batch.Put("mtasts/schema", "1");
  ASSERT_TRUE(db.Write(rocksdb::WriteOptions(), &batch).ok());
}

size_t served_records(rocksdb::DB& db) {
  size_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("mtasts/s/"); it->Valid() && it->key().starts_with("mtasts/s/"); it->Next()) ++n;
  return n;
}

TEST_F(Store, MigratesASchema1StoreInPlace) {
  // Domains in every state: confirmed, pending, held, TLS-RPT, nested (ancestor), plus
  // one written as literal schema-1 JSON (as the schema-1 stsd wrote it).
  state_->add_domain("a.example", DomainSettings{{"mailto:tls@a.example"}, {}});
  state_->stage("a.example", enforce({"mx.a.example"}), false);
  state_->confirm("a.example", 1, true, "t");
  state_->stage("a.example", enforce({"mx2.a.example"}), false);   // pending
  state_->add_domain("b.a.example", {});
  state_->stage("b.a.example", enforce({"mx.b.a.example"}), false);
  state_->confirm("b.a.example", 1, false, "", "probe");
  clock_->advance(hours(30));
  state_->set_hold("b.a.example", std::string("drift"));
  state_->add_domain("empty.example", {});
  std::vector<ImportItem> bulk;
  for (int i = 0; i < 25000; ++i)   // more than one migration batch
    bulk.push_back({"d" + std::to_string(i) + ".bulk.example", std::nullopt, enforce({"mx.bulk.example"})});
  state_->import(bulk, true, "bulk");
  const std::string digest = policy_digest(enforce({"mx.legacy.example"}));
  {
    rocksdb::WriteBatch batch;
    batch.Put("mtasts/d/legacy.example",
              R"({"confirmed":1,"confirmation":{"at":1735700000,"manual":true,"reason":"old","version":1},)"
              R"("created_at":1735690000,"last_number":1,"settings_changed_at":1735690000,"staged":1,)"
              R"("tlsrpt_rua":["mailto:r@legacy.example"],"txt_changed_at":1735700000,"vantages":[]})");
    batch.Put("mtasts/v/legacy.example/0000000001",
              R"({"created_at":1735690000,"digest":")" + digest +
                  R"(","max_age":604800,"mode":"enforce","mx":["mx.legacy.example"],"number":1})");
    // A served record left by an interrupted migration for a domain removed since.
    batch.Put("mtasts/s/gone.example", "stale");
    ASSERT_TRUE(store_.db().Write(rocksdb::WriteOptions(), &batch).ok());
  }
  const int64_t now = unix_seconds(clock_->now());
  std::vector<std::string> names = {"a.example", "b.a.example", "empty.example", "d0.bulk.example", "d24999.bulk.example"};
  std::map<std::string, DomainStatus> before;
  for (const auto& d : names) before[d] = status(d.c_str());
  state_.reset();
  downgrade_to_schema_1(store_.db());
  {
    rocksdb::WriteBatch batch;   // (downgrade removed it; put the stale record back)
    batch.Put("mtasts/s/gone.example", "stale");
    ASSERT_TRUE(store_.db().Write(rocksdb::WriteOptions(), &batch).ok());
  }
  store_.reopen();
  state_ = std::make_unique<PolicyStore>(store_.db(), clock_);   // migrates
  std::string schema;
  ASSERT_TRUE(store_.db().Get(rocksdb::ReadOptions(), "mtasts/schema", &schema).ok());
  EXPECT_EQ(schema, "3");
  EXPECT_EQ(served_records(store_.db()), 25004u);
  names.push_back("legacy.example");
  for (int round = 0; round < 2; ++round) {   // after the migration, and after a plain restart
    SCOPED_TRACE(round ? "restarted" : "migrated");
    EXPECT_EQ(state_->domain_count(), 25004u);
    EXPECT_FALSE(state_->has_domain("gone.example"));
    EXPECT_EQ(state_->pending_domains(), (std::vector<std::string>{"a.example"}));
    for (const auto& d : names) {
      const auto st = status(d.c_str());
      if (before.count(d) && st.confirmed) {
        // A migrated store serves the ids the old stsd served (epoch-aligned periods
        // until each domain's first own boundary after the migration).
        const int64_t shown = st.hold ? st.hold->since : now;
        EXPECT_EQ(st.served_id,
                  policy_id(period_start(shown, hours(24)), hours(24), st.confirmed->number, st.confirmed->digest))
            << d;
        EXPECT_EQ(st.confirmed->number, before[d].confirmed->number) << d;
      }
      const std::string wire = std::string(state_->served(d)->wire_key);
      const auto view = state_->served_wire({reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
      ASSERT_TRUE(view) << d;
      char id[kMaxIdLength];
      EXPECT_EQ(std::string(id, view.id_at(now, state_->schedule(), id)), st.served_id) << d;
      EXPECT_EQ(view.held_since(), st.hold ? std::optional<int64_t>(st.hold->since) : std::nullopt) << d;
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(view.tlsrpt_rdata().data()), view.tlsrpt_rdata().size()),
                st.settings.tlsrpt_rua.empty() ? "" : std::string(1, char(tlsrpt_record(st.settings.tlsrpt_rua).size())) + tlsrpt_record(st.settings.tlsrpt_rua))
          << d;
    }
    EXPECT_EQ(status("legacy.example").served_id, policy_id(period_start(now, hours(24)), hours(24), 1, digest));
    const uint8_t example[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e'};
    const uint8_t bulk_example[] = {4, 'b', 'u', 'l', 'k', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e'};
    EXPECT_TRUE(state_->is_ancestor_wire(example));
    EXPECT_TRUE(state_->is_ancestor_wire(bulk_example));
    const uint8_t a_example[] = {1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e'};
    EXPECT_TRUE(state_->is_ancestor_wire(a_example)) << "a.example is a domain and the parent of b.a.example";
    EXPECT_TRUE(state_->served_wire(a_example));
    restart();
  }
}

TEST_F(Store, NameRoomRefusesDomainsThatCannotBeServed) {
  state_->require_name_room(11 + 100, "_smtp._tls.<domain>.<100-octet service zone> must fit in 255 octets");
  const std::string long_domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + ".com";
  try {
    state_->add_domain(long_domain, {});
    ADD_FAILURE() << "accepted";
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find("service zone"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(state_->has_domain(long_domain));
  state_->add_domain("short.example", {});
}

TEST_F(Store, ImportValidatesEverythingFirst) {
  std::vector<ImportItem> items = {
      {"a.example", DomainSettings{{"mailto:tls@a.example"}, {}}, enforce({"mx.a.example"})},
      {"b.example", std::nullopt, enforce({"192.0.2.1"})},   // bad
  };
  try {
    state_->import(items, false, "");
    ADD_FAILURE() << "accepted a bad item";
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find("item 2"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(state_->domains().empty());
  items[1].policy = enforce({"mx.b.example"});
  auto results = state_->import(items, true, "migrated from the old host");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].domain_added && results[0].stage.created && results[0].confirmed);
  EXPECT_EQ(status("a.example").confirmed->number, 1u);
  EXPECT_EQ(status("a.example").confirmation->reason, "migrated from the old host");
  EXPECT_EQ(state_->served("a.example")->tlsrpt_txt, "v=TLSRPTv1; rua=mailto:tls@a.example");
  // Importing the same rows again changes nothing.
  const auto generation = state_->generation();
  results = state_->import(items, false, "");
  EXPECT_FALSE(results[0].domain_added || results[0].stage.created);
  EXPECT_EQ(state_->generation(), generation);
}

// An imported row's steps make one event: the kind of the last, the others in its detail.
TEST_F(Store, AnImportedRowLeavesOneEvent) {
  const auto events_of = [&](const std::string& domain) { return state_->events(domain, 100); };
  state_->import({{"a.example", std::nullopt, enforce({"mx.a.example"})}}, true, "migrated");
  auto events = events_of("a.example");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "manual_confirm");
  EXPECT_EQ(events[0].version, 1u);
  EXPECT_EQ(events[0].detail,
            "migrated (import: domain added; staged mode enforce, mx mx.a.example, max_age 604800, digest " +
                status("a.example").staged->digest.substr(0, 12) + ")");

  const DomainSettings reports{{"mailto:tls@a.example"}, {}};
  Policy testing = enforce({"mx.a.example"});
  testing.mode = Mode::Testing;
  state_->import({{"a.example", reports, testing}}, false, "");
  events = events_of("a.example");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, "staged");
  EXPECT_EQ(events[0].version, 2u);
  EXPECT_EQ(events[0].detail, "mode testing, mx mx.a.example, max_age 604800, digest " +
                                  status("a.example").staged->digest.substr(0, 12) + " (import: settings updated)");

  state_->import({{"a.example", DomainSettings{}, testing}}, false, "");
  events = events_of("a.example");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, "settings_updated");
  EXPECT_EQ(events[0].version, 0u);
  EXPECT_EQ(events[0].detail, "import");

  // A row that changes nothing leaves none.
  state_->import({{"a.example", DomainSettings{}, testing}}, false, "");
  EXPECT_EQ(events_of("a.example").size(), 3u);
}

// The dry run (check_import) and the import run one validation: each kind of bad item is
// refused by both, with the same message naming the item's place, and nothing is written.
TEST_F(Store, CheckImportRefusesWhatImportRefusesByPlace) {
  state_->require_name_room(11 + 19, "_smtp._tls.<domain>.sts.provider.test. must fit in 255 octets");
  const std::string long_domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                                  "." + std::string(30, 'd') + ".example";  // 230 characters
  std::vector<std::string> seventeen;
  for (char c = 'a'; c <= 'q'; ++c) seventeen.push_back(std::string("mailto:") + c + "@a.io");
  const std::vector<std::string> long_record(3, "mailto:" + std::string(80, 'x') + "@example.com");
  struct Bad {
    ImportItem item;
    std::string reason;  // a part of the message
  };
  const std::vector<Bad> bad = {
      {{long_domain, std::nullopt, enforce({"mx.example"})}, "is too long: _smtp._tls.<domain>.sts.provider.test."},
      {{"rua.example", DomainSettings{seventeen, {}}, enforce({"mx.example"})}, "at most 16 TLS-RPT rua URIs"},
      {{"record.example", DomainSettings{long_record, {}}, enforce({"mx.example"})}, "longer than 255 characters"},
      {{"uri.example", DomainSettings{{"ftp://x.example"}, {}}, enforce({"mx.example"})}, "rua 'ftp://x.example'"},
      {{"policy.example", std::nullopt, enforce({"192.0.2.1"})}, "policy.example: "},
      {{"bad..example", std::nullopt, enforce({"mx.example"})}, "bad..example"},
      {{"Good.Example.", std::nullopt, enforce({"mx.example"})}, "appears twice in one request (also line 2)"},
  };
  std::vector<ImportItem> items = {{"good.example", std::nullopt, enforce({"mx.good.example"}), "line 2"}};
  for (size_t i = 0; i < bad.size(); ++i) {
    items.push_back(bad[i].item);
    items.back().place = "line " + std::to_string(i + 3);
  }
  const auto refusals = state_->check_import(items, true, "migrated");
  ASSERT_EQ(refusals.size(), bad.size());
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(refusals[i].item, i + 1);
    EXPECT_EQ(refusals[i].message.rfind("line " + std::to_string(i + 3) + ": ", 0), 0u) << refusals[i].message;
    EXPECT_NE(refusals[i].message.find(bad[i].reason), std::string::npos) << refusals[i].message;
  }
  const auto generation = state_->generation();
  try {
    state_->import(items, true, "migrated");
    ADD_FAILURE() << "accepted bad items";
  } catch (const ImportRefused& refused) {
    ASSERT_EQ(refused.refusals().size(), refusals.size());
    for (size_t i = 0; i < refusals.size(); ++i) EXPECT_EQ(refused.refusals()[i].message, refusals[i].message);
  }
  EXPECT_EQ(state_->generation(), generation);
  EXPECT_TRUE(state_->domains().empty());

  // The request as such: both refuse a confirmation without a reason.
  items.resize(1);
  EXPECT_THROW(state_->check_import(items, true, ""), PolicyError);
  EXPECT_THROW(state_->import(items, true, ""), PolicyError);
  EXPECT_TRUE(state_->check_import(items, true, "migrated").empty());
  EXPECT_TRUE(state_->domains().empty());  // a dry run writes nothing
  EXPECT_EQ(state_->import(items, true, "migrated").size(), 1u);
  EXPECT_TRUE(state_->has_domain("good.example"));

  // A large request is checked in two halves at once (validate_import): the same bad
  // items spread over 6,000 refuse with the same messages, and a new domain's name room,
  // an existing domain and a repeated name are told apart as in a small one.
  std::vector<ImportItem> small = {{"first.example", std::nullopt, enforce({"mx.example"}), "line 2"}};
  for (size_t i = 0; i < bad.size(); ++i) {
    small.push_back(bad[i].item);
    small.back().place = "line " + std::to_string(i + 3);
  }
  small.back().domain = "First.Example.";  // its twin is the request's first item
  small.push_back({"good.example", std::nullopt, enforce({"mx.changed.example"}), "in the store"});
  const auto expected = state_->check_import(small, true, "migrated");
  ASSERT_EQ(expected.size(), bad.size());
  std::vector<ImportItem> large;
  std::vector<size_t> at;  // where small[k] is in large
  for (size_t k = 0; k < small.size(); ++k) {
    while (large.size() < k * 700)
      large.push_back({"filler" + std::to_string(large.size()) + ".example", std::nullopt, enforce({"mx.example"})});
    at.push_back(large.size());
    large.push_back(small[k]);
  }
  while (large.size() < 6000)
    large.push_back({"filler" + std::to_string(large.size()) + ".example", std::nullopt, enforce({"mx.example"})});
  const auto refused = state_->check_import(large, true, "migrated");
  ASSERT_EQ(refused.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(refused[i].item, at[expected[i].item]);
    EXPECT_EQ(refused[i].message, expected[i].message);
  }
  large.erase(large.begin() + static_cast<std::ptrdiff_t>(at[1]), large.begin() + static_cast<std::ptrdiff_t>(at[bad.size()] + 1));
  const auto results = state_->import(large, true, "migrated");
  ASSERT_EQ(results.size(), large.size());
  EXPECT_TRUE(results[0].domain_added);
  EXPECT_EQ(results.back().domain, "filler5999.example");
  EXPECT_EQ(state_->domain_count(), large.size());
  EXPECT_EQ(status("good.example").confirmed->policy.mx, std::vector<std::string>{"mx.changed.example"});
}

TEST_F(Store, ServedViewFollowsEveryChange) {
  state_->add_domain("example.com", DomainSettings{{"mailto:tls@example.com"}, {}});
  auto served = state_->served("example.com");
  ASSERT_TRUE(served);
  EXPECT_FALSE(served->staged);
  EXPECT_EQ(served->wire_key, std::string("\7example\3com", 12));
  ASSERT_EQ(served->tlsrpt_rdata.size(), 1 + served->tlsrpt_txt.size());
  state_->stage("example.com", enforce({"mx.example.com"}), false);
  served = state_->served("example.com");
  EXPECT_EQ(served->staged_policy, render_policy(enforce({"mx.example.com"})));
  EXPECT_FALSE(served->confirmed);
  state_->confirm("example.com", 1, true, "t");
  served = state_->served("example.com");
  ASSERT_TRUE(served->confirmed);
  EXPECT_EQ(served->confirmed->number, 1u);
  const uint8_t com[] = {3, 'c', 'o', 'm'};
  EXPECT_TRUE(state_->is_ancestor_wire(com));
  EXPECT_FALSE(state_->is_ancestor_wire(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(served->wire_key.data()), served->wire_key.size())));
  state_->remove_domain("example.com", RemovalCheck::Force);  // version 1 (enforce) is confirmed
  EXPECT_FALSE(state_->served("example.com"));
  EXPECT_FALSE(state_->is_ancestor_wire(com));
}

TEST_F(Store, ManyDomainsStayFindable) {
  std::vector<ImportItem> items;
  for (int i = 0; i < 5000; ++i) {
    const std::string d = "d" + std::to_string(i) + ".example";
    items.push_back({d, std::nullopt, enforce({("mx." + d).c_str()})});
  }
  state_->import(items, true, "bulk");
  restart();
  EXPECT_EQ(state_->domain_count(), 5000u);
  for (int i = 0; i < 5000; i += 97) {
    auto served = state_->served("d" + std::to_string(i) + ".example");
    ASSERT_TRUE(served) << i;
    EXPECT_EQ(served->confirmed->number, 1u);
  }
  EXPECT_FALSE(state_->served("d5000.example"));
}

TEST_F(Store, SubscribersHearEveryChangeUntilTheyLetGo) {
  std::vector<std::string> heard;
  auto token = state_->subscribe([&](const std::string& domain) { heard.push_back(domain); });
  state_->add_domain("Example.com", {});
  state_->stage("example.com", enforce({"mx.example.com"}), false);
  EXPECT_EQ(heard, (std::vector<std::string>{"example.com", "example.com"}));
  token.reset();
  state_->stage("example.com", enforce({"mx2.example.com"}), false);
  EXPECT_EQ(heard.size(), 2u);
}

TEST_F(Store, SubscriberMayWriteToTheStore) {
  state_->add_domain("example.com", {});
  auto token = state_->subscribe([&](const std::string& domain) {
    auto st = state_->status(domain, unix_seconds(clock_->now()));
    if (st && st->staged && !st->confirmed) state_->confirm(domain, st->staged->number, false, "", "auto");
  });
  state_->stage("example.com", enforce({"mx.example.com"}), false);
  EXPECT_EQ(status("example.com").confirmed->number, 1u);
}

TEST_F(Store, ReadersNeverSeeAHalfMadeChange) {
  // Lock-free readers (the DNS workers) run while a writer stages and confirms: every
  // entry a reader gets is complete and consistent, and confirmations only move forward.
  state_->add_domain("example.com", {});
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      uint32_t last_confirmed = 0;
      while (!done.load()) {
        auto served = state_->served("example.com");
        if (!served) continue;
        if (served->confirmed) {
          EXPECT_GE(served->confirmed->number, last_confirmed);
          last_confirmed = served->confirmed->number;
          EXPECT_EQ(served->confirmed->digest.size(), 64u);
          ASSERT_TRUE(served->staged);
          EXPECT_LE(served->confirmed->number, served->staged->number);
        }
        if (served->staged) {
          EXPECT_FALSE(served->staged_policy.empty());
        }
        reads.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 60; ++i) {
    const auto v = state_->stage("example.com", enforce({("mx" + std::to_string(i) + ".example.com").c_str()}), false);
    if (i % 2) state_->confirm("example.com", v.version, false, "", "probe");
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(status("example.com").confirmed->number, 60u);
}

}  // namespace
}  // namespace stsd::store
// clang-format on
