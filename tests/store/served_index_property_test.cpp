// The served index (what DNS reads) against the store's records (what RocksDB holds),
// after random changes and restarts.
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "clock.h"
#include "property_support.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::store {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using test_support::as_wire;
using test_support::env_int;

constexpr int64_t kJan1 = 1735689600;

// Property: after every step of random add / remove / retire / stage / confirm / hold / settings /
// import / restart sequences over nested names, the compact served index (what DNS reads)
// agrees with status() (what RocksDB holds): membership, confirmed version, id, hold,
// TLS-RPT rdata; every proper ancestor of a domain (and nothing else) is an empty
// non-terminal; and domains() and pending_domains() match.
class IndexRun {
 public:
  explicit IndexRun(uint64_t seed) : random_(seed) {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kJan1 + random_() % 86400)));
    state_ = std::make_unique<PolicyStore>(store_.db(), clock_);
    // Names that nest (ancestors that are domains too), share parents, or stand alone;
    // and many siblings so that several share a shard.
    pool_ = {"example.com",
             "a.example.com",
             "b.a.example.com",
             "c.b.a.example.com",
             "x.example.net",
             "y.x.example.net",
             "example.org",
             "deep.er.than.most.example.org",
             "er.than.most.example.org"};
    for (int i = 0; i < 40; ++i) pool_.push_back("s" + std::to_string(i) + ".sib.example");
  }

  void step() {
    const std::string domain = pool_[random_() % pool_.size()];
    const bool present = present_.count(domain) > 0;
    const int op = static_cast<int>(random_() % 100);
    try {
      if (op < 20) {
        if (!present) {
          state_->add_domain(domain, random_settings()), present_.insert(domain);
          return;
        }
        const auto how = random_() % 4;
        if (how == 0)
          state_->remove_domain(domain, RemovalCheck::Force), present_.erase(domain);
        else if (how == 1)
          state_->remove_domain(domain), present_.erase(domain);  // refused while a sender may hold its policy
        else if (how == 2)
          state_->retire(domain, "property");
        else if (state_->remove_retired(domain))
          present_.erase(domain);
      } else if (op < 45) {
        if (!present) return;
        state_->stage(domain, Policy{Mode::Enforce, {"mx" + std::to_string(random_() % 3) + "." + domain}, 86400},
                      random_() % 2);
      } else if (op < 65) {
        if (!present) return;
        const auto st = state_->status(domain, now());
        if (st->staged) state_->confirm(domain, st->staged->number, random_() % 2, "property", "step");
      } else if (op < 72) {
        if (!present) return;
        if (random_() % 2)
          state_->set_hold(domain, std::string("drift"));
        else
          state_->set_hold(domain, std::nullopt);
      } else if (op < 80) {
        if (!present) return;
        state_->update_settings(domain, random_settings());
      } else if (op < 88) {
        std::vector<ImportItem> items;
        std::set<std::string> chosen;
        for (int i = 0; i < 6; ++i) chosen.insert(pool_[random_() % pool_.size()]);
        for (const auto& d : chosen) {
          std::optional<DomainSettings> settings;
          if (random_() % 2) settings = random_settings();
          items.push_back({d, settings, Policy{Mode::Testing, {"mx." + d}, 86400}});
        }
        state_->import(items, random_() % 2, "import");
        present_.insert(chosen.begin(), chosen.end());
      } else if (op < 95) {
        clock_->advance(seconds(random_() % 200000));
      } else {
        state_.reset();
        store_.reopen();
        state_ = std::make_unique<PolicyStore>(store_.db(), clock_);
      }
    } catch (const PolicyError&) {
      // Refused writes (e.g. a hold with nothing confirmed) change nothing; checked below.
    }
  }

  void check() {
    const int64_t t = now();
    std::set<std::string> ancestors;
    for (const auto& d : present_)
      for (size_t dot = d.find('.'); dot != std::string::npos; dot = d.find('.', dot + 1))
        ancestors.insert(d.substr(dot + 1));
    std::set<std::string> names(pool_.begin(), pool_.end());
    names.insert(ancestors.begin(), ancestors.end());
    names.insert({"com", "example", "sib.example", "nothing.example", "b.example.com"});
    std::vector<std::string> pending;
    for (const auto& name : names) {
      const auto wire = as_wire(name);
      const bool is_domain = present_.count(name) > 0;
      ASSERT_EQ(state_->has_domain(name), is_domain) << name;
      ASSERT_EQ(state_->is_ancestor_wire(wire), ancestors.count(name) > 0) << name;
      const auto view = state_->served_wire(wire);
      ASSERT_EQ(static_cast<bool>(view), is_domain) << name;
      if (!is_domain) {
        if (name.find('.') != std::string::npos) {  // "com" is not a domain name at all
          ASSERT_FALSE(state_->status(name, t)) << name;
        }
        continue;
      }
      const auto st = state_->status(name, t);
      ASSERT_TRUE(st) << name;
      if (st->staged && (!st->confirmed || st->staged->number > st->confirmed->number)) pending.push_back(name);
      ASSERT_EQ(view.has_confirmed(), st->confirmed.has_value()) << name;
      ASSERT_EQ(view.confirmed_version(), st->confirmed ? st->confirmed->number : 0u) << name;
      char id[kMaxIdLength];
      ASSERT_EQ(std::string(id, view.id_at(t, state_->schedule(), id)), st->served_id) << name;
      ASSERT_EQ(view.held_since(), st->hold ? std::optional<int64_t>(st->hold->since) : std::nullopt) << name;
      const std::string record = tlsrpt_record(st->settings.tlsrpt_rua);
      const auto rdata = view.tlsrpt_rdata();
      ASSERT_EQ(std::string(reinterpret_cast<const char*>(rdata.data()), rdata.size()),
                record.empty() ? std::string() : std::string(1, static_cast<char>(record.size())) + record)
          << name;
      const auto wire_key = view.wire_key();
      ASSERT_TRUE(std::equal(wire_key.begin(), wire_key.end(), wire.begin(), wire.end())) << name;
      const auto served = state_->served(name);
      ASSERT_TRUE(served) << name;
      ASSERT_EQ(view.txt_changed_at(), served->txt_changed_at) << name;
      ASSERT_EQ(view.settings_changed_at(), served->settings_changed_at) << name;
    }
    ASSERT_EQ(state_->domains(), std::vector<std::string>(present_.begin(), present_.end()));
    ASSERT_EQ(state_->pending_domains(), pending);
    ASSERT_EQ(state_->domain_count(), present_.size());
    // Paging with domains(after, limit) walks the same list.
    std::vector<std::string> paged;
    for (std::string after;;) {
      auto page = state_->domains(after, 3);
      if (page.empty()) break;
      paged.insert(paged.end(), page.begin(), page.end());
      after = page.back();
    }
    ASSERT_EQ(paged, std::vector<std::string>(present_.begin(), present_.end()));
  }

 private:
  int64_t now() const { return unix_seconds(clock_->now()); }
  DomainSettings random_settings() {
    DomainSettings s;
    if (random_() % 3 == 0) s.tlsrpt_rua.push_back("mailto:tls" + std::to_string(random_() % 5) + "@example.com");
    return s;
  }

  std::mt19937_64 random_;
  test_support::TempStore store_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PolicyStore> state_;
  std::vector<std::string> pool_;
  std::set<std::string> present_;
};

TEST(ServedIndexProperty, AgreesWithTheStoreAfterRandomChanges) {
  const int runs = env_int("STSD_PROPERTY_RUNS", 30) / 3 + 1;
  const int steps = env_int("STSD_PROPERTY_STEPS", 100) * 2;
  for (int r = 0; r < runs; ++r) {
    const uint64_t seed = 0x1dec'0000ull + static_cast<uint64_t>(r);
    SCOPED_TRACE("seed " + std::to_string(seed));
    IndexRun run(seed);
    for (int s = 0; s < steps; ++s) {
      SCOPED_TRACE("step " + std::to_string(s));
      ASSERT_NO_FATAL_FAILURE(run.step());
      ASSERT_NO_FATAL_FAILURE(run.check());
    }
  }
}

}  // namespace
}  // namespace stsd::store
