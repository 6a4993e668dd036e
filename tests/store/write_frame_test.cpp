// The write frame every writer goes through (PolicyStore::write): a write that fails at
// any step changes nothing (no record, no event, no index change, no notification, the
// generation and the event numbering unchanged); a committed write notifies each changed
// domain once; writes never interleave.
#include <functional>
#include <set>
#include <thread>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <gtest/gtest.h>

#include "clock.h"
#include "property_support.h"
#include "store/keys.h"
#include "store/policy_store.h"
#include "store/space_records.h"
#include "temp_store.h"

namespace stsd::store {
namespace {

using std::chrono::seconds;
using test_support::as_wire;

constexpr int64_t kStart = 1735689600;  // 2025-01-01T00:00:00Z

Policy enforce(const std::string& mx) { return Policy{Mode::Enforce, {mx}, 604800}; }

class WriteFrame : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kStart)));
    open();
    store_->add_domain("example.com", {});
    store_->stage("example.com", enforce("mx1.example.com"), false);
    heard_.clear();
  }
  void open() {
    store_ = std::make_unique<PolicyStore>(disk_.db(), clock_);
    subscription_ = store_->subscribe([this](const std::string& domain) { heard_.push_back(domain); });
  }
  void reopen_read_only() {
    subscription_.reset();
    store_.reset();
    disk_.reopen_read_only();
    open();
  }
  uint64_t newest_event_seq(const std::string& domain) { return store_->events(domain, 1).front().seq; }

  test_support::TempStore disk_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PolicyStore> store_;
  PolicyStore::Subscription subscription_;
  std::vector<std::string> heard_;
};

TEST_F(WriteFrame, AWriterThatThrowsAfterBuildingPartOfItsBatchChangesNothing) {
  // b.example is being retired and its first version's record is corrupt: an import that
  // confirms its `none` version reads its history for the removal time and fails there,
  // after a.example (re-added, continuing a kept numbering) and b.example's confirmation
  // joined the batch.
  store_->add_domain("b.example", {});
  store_->stage("b.example", enforce("mx.b.example"), false);
  store_->confirm("b.example", 1, true, "served");
  const Retirement retirement = store_->retire("b.example", "customer left");
  const auto b_before = *store_->status("b.example", kStart);
  const uint64_t seq = newest_event_seq("b.example");  // b.example's events are the newest
  std::string version_1;
  ASSERT_TRUE(disk_.db().Get(rocksdb::ReadOptions(), keys::version("b.example", 1), &version_1).ok());
  rocksdb::WriteBatch damage;
  damage.Put("mtasts/n/a.example", "5");
  damage.Put(keys::version("b.example", 1), "not a version");
  ASSERT_TRUE(disk_.db().Write(rocksdb::WriteOptions(), &damage).ok());
  heard_.clear();
  const uint64_t generation = store_->generation();
  try {
    store_->import({{"a.example", std::nullopt, enforce("mx.a.example")},
                    {"b.example", std::nullopt, Policy{Mode::None, {"mx.b.example"}, 86400}}},
                   true, "migration");
    ADD_FAILURE() << "import succeeded";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("is corrupt"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store_->has_domain("a.example"));
  EXPECT_FALSE(store_->served_wire(as_wire("a.example")));
  EXPECT_TRUE(store_->events("a.example", 10).empty());
  ASSERT_TRUE(disk_.db().Put(rocksdb::WriteOptions(), keys::version("b.example", 1), version_1).ok());
  const auto b_after = *store_->status("b.example", kStart);
  EXPECT_EQ(b_after.confirmed->number, 1u);
  EXPECT_EQ(b_after.staged->number, retirement.version);
  EXPECT_EQ(newest_event_seq("b.example"), seq);
  EXPECT_EQ(b_after.served_id, b_before.served_id);
  EXPECT_EQ(store_->generation(), generation);
  EXPECT_EQ(store_->domain_count(), 2u);
  EXPECT_EQ(store_->pending_domains(), (std::vector<std::string>{"b.example", "example.com"}));
  EXPECT_TRUE(heard_.empty());
  std::string kept;
  EXPECT_TRUE(disk_.db().Get(rocksdb::ReadOptions(), "mtasts/n/a.example", &kept).ok())
      << "the kept numbering is not consumed";
  store_->record_event("example.com", "note", 0, "");
  EXPECT_EQ(newest_event_seq("example.com"), seq + 1) << "no event number was used up";
}

// The numbering runs out only at UINT32_MAX; the import's validation (the dry run's too)
// refuses that item before anything joins the batch.
TEST_F(WriteFrame, AnExhaustedNumberingIsRefusedBeforeTheBatch) {
  rocksdb::WriteBatch removed;
  removed.Put("mtasts/n/b.example", std::to_string(UINT32_MAX));
  ASSERT_TRUE(disk_.db().Write(rocksdb::WriteOptions(), &removed).ok());
  const std::vector<ImportItem> items = {{"a.example", std::nullopt, enforce("mx.a.example")},
                                         {"b.example", std::nullopt, enforce("mx.b.example")}};
  const auto refusals = store_->check_import(items, true, "migration");
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].message, "item 2: b.example: version numbers exhausted");
  const uint64_t generation = store_->generation();
  EXPECT_THROW(store_->import(items, true, "migration"), ImportRefused);
  EXPECT_FALSE(store_->has_domain("a.example"));
  EXPECT_EQ(store_->generation(), generation);
  EXPECT_TRUE(heard_.empty());
}

TEST_F(WriteFrame, ACommitThatFailsChangesNothingInMemory) {
  const auto status_before = *store_->status("example.com", kStart);
  const uint64_t seq = newest_event_seq("example.com");
  reopen_read_only();
  const uint64_t generation = store_->generation();
  const std::vector<std::pair<const char*, std::function<void()>>> writes = {
      {"add", [&] { store_->add_domain("new.example", {}); }},
      {"stage", [&] { store_->stage("example.com", enforce("mx2.example.com"), false); }},
      {"confirm", [&] { store_->confirm("example.com", 1, true, "by hand"); }},
      {"record_event", [&] { store_->record_event("example.com", "note", 0, ""); }},
      {"remove", [&] { store_->remove_domain("example.com"); }},
      {"import",
       [&] {
         store_->import({{"new.example", std::nullopt, enforce("mx.new.example")}}, false, "");
       }},
  };
  for (const auto& [name, write] : writes) {
    try {
      write();
      ADD_FAILURE() << name << ": a read-only store accepted the write";
    } catch (const StoreUnavailable& e) {
      // The first write fails in RocksDB; the store refuses the others before they reach it.
      EXPECT_NE(std::string(e.what()).find(std::string_view(name) == writes.front().first ? "store write failed (nothing changed)"
                                                                         : "the store refuses writes (nothing changed)"),
                std::string::npos)
          << name << ": " << e.what();
    }
  }
  EXPECT_FALSE(store_->has_domain("new.example"));
  EXPECT_TRUE(store_->has_domain("example.com"));
  EXPECT_TRUE(store_->served_wire(as_wire("example.com")));
  const auto status = *store_->status("example.com", kStart);
  EXPECT_EQ(status.staged->number, status_before.staged->number);
  EXPECT_FALSE(status.confirmed);
  EXPECT_EQ(store_->generation(), generation);
  EXPECT_EQ(store_->domain_count(), 1u);
  EXPECT_EQ(store_->pending_domains(), (std::vector<std::string>{"example.com"}));
  EXPECT_TRUE(heard_.empty());
  EXPECT_EQ(newest_event_seq("example.com"), seq);
}

struct FrameCase {
  const char* name;
  std::function<void(PolicyStore&)> write;
  std::vector<std::string> notified;  // once per changed domain, in order
};

TEST_F(WriteFrame, EachCommittedChangeNotifiesOnceAndMovesTheGeneration) {
  const std::vector<FrameCase> cases = {
      {"add", [](PolicyStore& s) { s.add_domain("Other.example", {}); }, {"other.example"}},
      {"settings",
       [](PolicyStore& s) {
         s.update_settings("other.example", DomainSettings{{"mailto:tls@other.example"}, {}});
       },
       {"other.example"}},
      {"stage", [](PolicyStore& s) { s.stage("example.com", enforce("mx2.example.com"), false); }, {"example.com"}},
      {"unchanged stage", [](PolicyStore& s) { s.stage("example.com", enforce("MX2.example.com"), true); }, {}},
      {"confirm", [](PolicyStore& s) { s.confirm("example.com", 2, false, "", "seen"); }, {"example.com"}},
      {"event", [](PolicyStore& s) { s.record_event("example.com", "probe_failed", 2, "edge 1"); }, {}},
      {"hold", [](PolicyStore& s) { s.set_hold("example.com", std::string("drift")); }, {"example.com"}},
      {"hold again", [](PolicyStore& s) { s.set_hold("example.com", std::string("drift")); }, {}},
      {"release", [](PolicyStore& s) { s.set_hold("example.com", std::nullopt); }, {"example.com"}},
      {"release again", [](PolicyStore& s) { s.set_hold("example.com", std::nullopt); }, {}},
      {"import",
       [](PolicyStore& s) {
         s.import({{"example.com", std::nullopt, enforce("mx2.example.com")},  // unchanged
                   {"a.example", std::nullopt, enforce("mx.a.example")},
                   {"b.example", std::nullopt, enforce("mx.b.example")}},
                  false, "");
       },
       {"a.example", "b.example"}},
      {"remove", [](PolicyStore& s) { s.remove_domain("a.example"); }, {"a.example"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    heard_.clear();
    const uint64_t generation = store_->generation();
    c.write(*store_);
    EXPECT_EQ(heard_, c.notified);
    EXPECT_EQ(store_->generation(), generation + (c.notified.empty() ? 0 : 1));
  }
}

TEST_F(WriteFrame, ASubscriberSeesTheWriteAlreadyVisible) {
  std::vector<uint32_t> seen;
  auto token = store_->subscribe([&](const std::string& domain) {
    const auto view = store_->served_wire(as_wire(domain));
    seen.push_back(view ? view.confirmed_version() : 0);
  });
  store_->confirm("example.com", 1, true, "by hand");
  EXPECT_EQ(seen, (std::vector<uint32_t>{1}));
}

TEST_F(WriteFrame, ConcurrentWritersNeverInterleave) {
  // Versions are numbered and events sequenced inside the frame: concurrent writers get
  // consecutive, distinct numbers and every event lands.
  constexpr int kThreads = 4, kStages = 25;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < kStages; ++i)
        store_->stage("example.com", enforce("mx" + std::to_string(t) + "-" + std::to_string(i) + ".example.com"),
                      false);
    });
  for (auto& w : writers) w.join();
  EXPECT_EQ(store_->status("example.com", kStart)->staged->number, 1u + kThreads * kStages);
  const auto events = store_->events("example.com", 1000);
  ASSERT_EQ(events.size(), 2u + kThreads * kStages);  // domain_added, the first stage, the rest
  std::set<uint32_t> versions;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, events[i + 1].seq + 1);
    if (events[i].kind == "staged") versions.insert(events[i].version);
  }
  EXPECT_EQ(versions.size(), 1u + kThreads * kStages);
  EXPECT_EQ(*versions.begin(), 1u);
  EXPECT_EQ(*versions.rbegin(), 1u + kThreads * kStages);
}

TEST_F(WriteFrame, KeySpacesOfOtherPartsAreWrittenWholeOrNotAtAll) {
  const uint64_t generation = store_->generation();
  store_->write_space("reports", [](SpaceWrite& space) {
    EXPECT_FALSE(space.get("a"));
    space.put("a", "1");
    space.put("b/c", "2");
  });
  EXPECT_EQ(store_->space_get("reports", "a"), "1");
  EXPECT_THROW(store_->write_space("reports",
                                   [](SpaceWrite& space) {
                                     space.put("a", "changed");
                                     space.erase("b/c");
                                     throw PolicyError("refused half way");
                                   }),
               PolicyError);
  std::vector<std::string> seen;
  store_->space_scan("reports", "", [&](std::string_view key, std::string_view value) {
    seen.push_back(std::string(key) + "=" + std::string(value));
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a=1", "b/c=2"}));
  EXPECT_FALSE(store_->space_get("other", "a"));  // spaces do not see each other
  EXPECT_THROW(store_->write_space("Bad Space", [](SpaceWrite&) {}), PolicyError);
  EXPECT_EQ(store_->generation(), generation);  // nothing served changed
  EXPECT_TRUE(heard_.empty());
  reopen_read_only();
  EXPECT_THROW(store_->write_space("reports", [](SpaceWrite& space) { space.put("a", "2"); }), StoreUnavailable);
  EXPECT_EQ(store_->space_get("reports", "a"), "1");
}

}  // namespace
}  // namespace stsd::store
