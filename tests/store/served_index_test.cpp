// The served index as shards split (linear hashing) and as it is built at start-up:
// lookups against a model after every batch, a start-up build equal to the published
// index, readers and listings while batches are published, and empty non-terminals.
// Small shapes (2 shards to start, 2 entries per shard) make a few hundred domains split
// many shards.
#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/served_index.h"

namespace stsd::store {
namespace {

constexpr ServedIndexShape kTiny{1, 2};

std::span<const uint8_t> bytes_of(const std::string& wire) {
  return {reinterpret_cast<const uint8_t*>(wire.data()), wire.size()};
}

Facts facts_with(uint32_t version, const std::string& tlsrpt = "") {
  Facts facts;
  facts.confirmed = true;
  facts.version = version;
  facts.digest = {1, 2, 3, 4, 5, static_cast<uint8_t>(version)};
  facts.txt_changed_at = 1000 + version;
  facts.settings_changed_at = 2000 + version;
  facts.rotation_hash = version * 7;
  facts.tlsrpt_txt = tlsrpt;
  return facts;
}

// What the index must answer: domain -> version (facts_with(version)).
using Model = std::map<std::string, uint32_t>;

bool is_proper_ancestor(const std::string& name, const Model& model) {
  return std::any_of(model.begin(), model.end(), [&](const auto& d) {
    return d.first.size() > name.size() && d.first.ends_with(name) && d.first[d.first.size() - name.size() - 1] == '.';
  });
}

// Every name of `pool` and its parents answer as `model` says; for_each lists the model.
void expect_matches(const ServedIndex& index, const std::vector<std::string>& pool, const Model& model,
                    const std::string& where) {
  SCOPED_TRACE(where);
  std::set<std::string> names(pool.begin(), pool.end());
  for (const auto& name : pool)
    for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1))
      names.insert(name.substr(dot + 1));
  for (const auto& name : names) {
    const auto found = model.find(name);
    const auto view = index.find(bytes_of(wire_key(name)));
    ASSERT_EQ(static_cast<bool>(view), found != model.end()) << name;
    EXPECT_EQ(index.contains(name), found != model.end()) << name;
    if (view) {
      EXPECT_EQ(view.confirmed_version(), found->second) << name;
      EXPECT_EQ(view.txt_changed_at(), 1000 + found->second) << name;
      EXPECT_EQ(view.rotation_hash(), found->second * 7) << name;
    }
    EXPECT_EQ(index.is_ancestor(bytes_of(wire_key(name))), is_proper_ancestor(name, model)) << name;
  }
  EXPECT_EQ(index.count(), model.size());
  std::multiset<std::string> listed;
  index.for_each([&](const ServedView& view) {
    const auto wire = view.wire_key();
    listed.insert(std::string(reinterpret_cast<const char*>(wire.data()), wire.size()));
  });
  std::multiset<std::string> expected;
  for (const auto& [domain, version] : model) expected.insert(wire_key(domain));
  EXPECT_EQ(listed, expected);
}

// prefix + number + suffix (appended rather than operator+, which trips GCC 12's
// -Wrestrict false positive, GCC bug 105329).
std::string numbered(std::string_view prefix, size_t number, std::string_view suffix) {
  std::string out(prefix);
  out.append(std::to_string(number)).append(suffix);
  return out;
}

std::vector<std::string> nested_pool(size_t siblings) {
  std::vector<std::string> pool = {"example.com", "a.example.com", "b.a.example.com", "x.example.net",
                                   "y.x.example.net", "deep.er.than.most.example.org"};
  for (size_t i = 0; i < siblings; ++i) pool.push_back(numbered("s", i, ".sib.example"));
  return pool;
}

// Queues 1 to `most` random changes of `pool`'s domains (one a domain, as a write makes
// them; a removal one time in four) and applies them to `model`.
void queue_random_changes(ServedIndex& index, const std::vector<std::string>& pool, Model& model,
                          std::mt19937_64& random, uint32_t& version, size_t most) {
  const size_t changes = 1 + random() % most;
  std::set<std::string> changed;
  for (size_t c = 0; c < changes; ++c) {
    const std::string& domain = pool[random() % pool.size()];
    if (!changed.insert(domain).second) continue;
    if (random() % 4 == 0) {
      if (model.erase(domain)) index.queue(domain, nullptr);
    } else {
      ++version;
      const Facts facts = facts_with(version, version % 3 ? "" : "v=TLSRPTv1; rua=mailto:r@example.com");
      index.queue(domain, &facts);
      model[domain] = version;
    }
  }
}

TEST(ServedIndexGrowth, LookupsMatchTheModelAfterEveryBatchWhileShardsSplit) {
  const auto pool = nested_pool(400);
  ServedIndex index(kTiny);
  Model model;
  std::mt19937_64 random(15);
  uint32_t version = 0;
  for (int batch = 0; batch < 60; ++batch) {
    queue_random_changes(index, pool, model, random, version, 40);
    index.publish();
    expect_matches(index, pool, model, numbered("batch ", static_cast<size_t>(batch), ""));
  }
  EXPECT_GT(index.shard_count(), 64u) << "the batches should have split shards";
  EXPECT_LE(index.entry_count(), index.shard_count() * kTiny.entries_per_shard);
}

// A write's changes are queued and their shards built before it commits; a write that
// failed discards them: the index answers, counts and lists as it did, and the next
// batch publishes only its own changes.
TEST(ServedIndexGrowth, DiscardedChangesLeaveTheIndexAsItWas) {
  const auto pool = nested_pool(200);
  ServedIndex index(kTiny);
  Model model;
  std::mt19937_64 random(16);
  uint32_t version = 0;
  for (int batch = 0; batch < 40; ++batch) {
    const bool fails = batch % 3 == 1;
    Model next = model;
    queue_random_changes(index, pool, next, random, version, 30);
    auto prepared = index.prepare();
    expect_matches(index, pool, model, numbered("prepared, unpublished ", static_cast<size_t>(batch), ""));
    if (fails) {
      index.discard();
    } else {
      index.publish(std::move(prepared));
      model = std::move(next);
    }
    expect_matches(index, pool, model, numbered(fails ? "discarded " : "published ", static_cast<size_t>(batch), ""));
  }
  EXPECT_LE(index.entry_count(), index.shard_count() * kTiny.entries_per_shard);
}

TEST(ServedIndexGrowth, StartUpBuildEqualsThePublishedIndexOnOneOrTwoParts) {
  const auto pool = nested_pool(300);
  ServedIndex published(kTiny);
  Model model;
  for (size_t i = 0; i < pool.size(); i += 3) {
    const Facts facts = facts_with(static_cast<uint32_t>(i + 1));
    published.queue(pool[i], &facts);
    model[pool[i]] = static_cast<uint32_t>(i + 1);
    if (i % 30 == 0) published.publish();
  }
  published.publish();
  expect_matches(published, pool, model, "published");
  for (size_t parts : {1, 2}) {
    ServedIndexBuilder builder(parts, 1 << 16);
    size_t at = 0;
    for (const auto& [domain, version] : model) ASSERT_TRUE(builder.part(at++ % parts).add(domain, facts_with(version)));
    ServedIndex built(kTiny);
    builder.build_into(built);
    expect_matches(built, pool, model, numbered("built from ", parts, " parts"));
    EXPECT_EQ(built.entry_count(), published.entry_count());
    // A built index takes further batches as a published one does.
    Facts facts = facts_with(999);
    built.queue("new.sib.example", &facts);
    built.queue(pool[0], nullptr);
    built.publish();
    Model after = model;
    after["new.sib.example"] = 999;
    after.erase(pool[0]);
    auto with_new = pool;
    with_new.push_back("new.sib.example");
    expect_matches(built, with_new, after, "built, then changed");
  }
}

TEST(ServedIndexGrowth, BuilderRefusesWhatIsNotALowercaseName) {
  ServedIndexBuilder builder(1, 0);
  EXPECT_FALSE(builder.add("Upper.example", facts_with(1)));
  EXPECT_FALSE(builder.add("a..example", facts_with(1)));
  EXPECT_TRUE(builder.add("lower.example", facts_with(1)));
}

TEST(ServedIndexGrowth, EmptyNonTerminalsFollowTheirDomainsAcrossSplits) {
  ServedIndex index(kTiny);
  const Facts facts = facts_with(1);
  index.queue("a.b.example", &facts);
  index.publish();
  EXPECT_FALSE(index.contains("b.example"));
  EXPECT_TRUE(index.is_ancestor(bytes_of(wire_key("b.example"))));
  EXPECT_TRUE(index.is_ancestor(bytes_of(wire_key("example"))));
  EXPECT_FALSE(index.is_ancestor(bytes_of(wire_key("a.b.example"))));
  // The parent becomes a domain too; then many siblings split every shard several times.
  index.queue("b.example", &facts);
  index.publish();
  for (int i = 0; i < 300; ++i) {
    index.queue(numbered("s", i, ".example"), &facts);
    if (i % 50 == 0) index.publish();
  }
  index.publish();
  EXPECT_TRUE(index.contains("b.example"));
  EXPECT_TRUE(index.is_ancestor(bytes_of(wire_key("b.example"))));
  // The child goes: the parent stays a domain, no longer an ancestor; "example" stays one.
  index.queue("a.b.example", nullptr);
  index.publish();
  EXPECT_TRUE(index.contains("b.example"));
  EXPECT_FALSE(index.is_ancestor(bytes_of(wire_key("b.example"))));
  EXPECT_TRUE(index.is_ancestor(bytes_of(wire_key("example"))));
  // Every domain under "example" goes: no entry is left for it.
  index.queue("b.example", nullptr);
  for (int i = 0; i < 300; ++i) index.queue(numbered("s", i, ".example"), nullptr);
  index.publish();
  EXPECT_FALSE(index.is_ancestor(bytes_of(wire_key("example"))));
  EXPECT_EQ(index.count(), 0u);
  EXPECT_EQ(index.entry_count(), 0u);
}

// Readers never miss a domain that stays, and a listing sees each staying domain once,
// while the writer publishes batches that add and remove others and split shards.
TEST(ServedIndexGrowth, ReadersAndListingsDuringPublishesAndSplits) {
  ServedIndex index(kTiny);
  std::vector<std::string> staying;
  for (int i = 0; i < 50; ++i) {
    staying.push_back(numbered("stay", static_cast<size_t>(i), ".example"));
    const Facts facts = facts_with(static_cast<uint32_t>(i + 1));
    index.queue(staying.back(), &facts);
  }
  index.publish();
  std::vector<std::string> wires;
  for (const auto& domain : staying) wires.push_back(wire_key(domain));
  std::atomic<bool> done{false};
  std::atomic<size_t> misses{0}, lookups{0}, bad_listings{0}, listings{0};
  std::thread reader([&] {
    while (!done.load()) {
      for (size_t i = 0; i < wires.size(); ++i) {
        const auto view = index.find(bytes_of(wires[i]));
        if (!view || view.confirmed_version() != i + 1) misses.fetch_add(1);
        lookups.fetch_add(1);
      }
    }
  });
  std::thread lister([&] {
    while (!done.load()) {
      std::map<std::string, int> seen;
      index.for_each([&](const ServedView& view) {
        const auto wire = view.wire_key();
        ++seen[std::string(reinterpret_cast<const char*>(wire.data()), wire.size())];
      });
      for (const auto& wire : wires)
        if (seen[wire] != 1) bad_listings.fetch_add(1);
      listings.fetch_add(1);
    }
  });
  const Facts facts = facts_with(1000);
  // At least 40 rounds, and on until both threads have run a while (at most 20,000).
  for (int round = 0; round < 20000 && (round < 40 || listings.load() < 5 || lookups.load() < 5000); ++round) {
    for (int i = 0; i < 100; ++i) index.queue(numbered("r", static_cast<size_t>(round * 100 + i), ".other.test"), &facts);
    if (round >= 2)
      for (int i = 0; i < 100; ++i) index.queue(numbered("r", static_cast<size_t>((round - 2) * 100 + i), ".other.test"), nullptr);
    index.publish();
  }
  done.store(true);
  reader.join();
  lister.join();
  EXPECT_EQ(misses.load(), 0u);
  EXPECT_EQ(bad_listings.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_GT(listings.load(), 0u);
  // A listing postpones splits; the next publish without one catches up.
  index.publish();
  EXPECT_GT(index.shard_count(), 64u);
  EXPECT_EQ(index.count(), staying.size() + 200);
  EXPECT_GE(listings.load(), 5u);
}

}  // namespace
}  // namespace stsd::store
