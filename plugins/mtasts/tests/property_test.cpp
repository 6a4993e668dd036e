// Property: after every step of random stage / confirm / hold / advance-clock / restart
// sequences on a real RocksDB, the id the plugin serves is exactly the one derived from
// the latest confirmed version and the current period (or the held period), and never
// reflects a staged-but-unconfirmed version.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <random>

#include <gtest/gtest.h>

#include "clock.h"
#include "config.h"
#include "plugin_test_support.h"
#include "mtasts_plugin.h"
#include "state.h"
#include "temp_store.h"

namespace stsd::mtasts {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

constexpr int64_t kJan1 = 1735689600;
const std::vector<std::string> kDomains = {"a.example", "b.example.net", "c.example.org"};

struct ModelDomain {
  std::map<uint32_t, std::string> digests;      // every version ever staged
  std::optional<uint32_t> confirmed;
  std::optional<int64_t> held_since;
  uint32_t newest = 0;
};

// "a.example" -> "\1a\7example" (the index's key).
std::vector<uint8_t> as_wire(const std::string& domain) {
  std::vector<uint8_t> out;
  size_t start = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string::npos) dot = domain.size();
    out.push_back(static_cast<uint8_t>(dot - start));
    out.insert(out.end(), domain.begin() + static_cast<std::ptrdiff_t>(start), domain.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  return out;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

class RandomRun {
 public:
  explicit RandomRun(uint64_t seed) : random_(seed) {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kJan1 + random_() % 86400)));
    rotation_ = std::uniform_int_distribution<int>(0, 1)(random_) ? hours(1) : seconds(600);
    start();
    for (const auto& d : kDomains) state_->add_domain(d, {});
  }

  void step() {
    const auto& domain = kDomains[random_() % kDomains.size()];
    auto& m = model_[domain];
    const int op = static_cast<int>(random_() % 100);
    if (op < 30) {
      // Stage one of a few policies, so unchanged stages happen too.
      Policy p{static_cast<Mode>(random_() % 3), {"mx" + std::to_string(random_() % 4) + "." + domain}, static_cast<uint32_t>(86400u * (1 + random_() % 3))};
      const bool skip = random_() % 2;
      const auto result = state_->stage(domain, p, skip);
      if (result.created) {
        ASSERT_EQ(result.version, m.newest + 1);
        m.newest = result.version;
        m.digests[result.version] = policy_digest(p);
      } else {
        ASSERT_TRUE(skip);
        ASSERT_EQ(result.version, m.newest);
      }
    } else if (op < 50) {
      if (m.newest == 0) return;
      const uint32_t version = 1 + static_cast<uint32_t>(random_() % m.newest);
      const bool allowed = !m.confirmed || version >= *m.confirmed;
      try {
        state_->confirm(domain, version, random_() % 2, "property test", "step");
        ASSERT_TRUE(allowed) << "confirmed a version older than the confirmed one";
        m.confirmed = version;
        m.held_since.reset();
      } catch (const PolicyError&) {
        ASSERT_FALSE(allowed) << "refused a valid confirmation of version " << version;
      }
    } else if (op < 55) {
      if (!m.confirmed) return;
      if (random_() % 2) {
        state_->set_hold(domain, std::string("drift seen"));
        if (!m.held_since) m.held_since = unix_seconds(clock_->now());
      } else {
        state_->set_hold(domain, std::nullopt);
        m.held_since.reset();
      }
    } else if (op < 97) {
      // Advance: often exactly to the next boundary or one second before it.
      const int64_t now = unix_seconds(clock_->now());
      const int64_t next = period_start(now, rotation_) + rotation_.count();
      switch (random_() % 4) {
        case 0: clock_->set(std::chrono::system_clock::time_point(seconds(next))); break;
        case 1: clock_->set(std::chrono::system_clock::time_point(seconds(std::max(now, next - 1)))); break;
        case 2: clock_->advance(seconds(random_() % 120)); break;
        default: clock_->advance(seconds(random_() % (3 * rotation_.count()))); break;
      }
    } else {
      restart();
    }
  }

  void check_served() {
    const int64_t now = unix_seconds(clock_->now());
    for (const auto& domain : kDomains) {
      const auto& m = model_[domain];
      const auto reply = test::ask(
          *plugin_, {.qname = "_mta-sts." + domain + ".", .qtype = dns::rrtype::TXT, .edns_size = test::kResolverEdns});
      ASSERT_EQ(reply.rcode, "NOERROR");
      if (!m.confirmed) {
        ASSERT_TRUE(reply.answer.empty()) << domain << ": served an id with nothing confirmed";
        continue;
      }
      const int64_t period = period_start(m.held_since ? *m.held_since : now, rotation_);
      const std::string id = policy_id(period, rotation_, *m.confirmed, m.digests.at(*m.confirmed));
      ASSERT_EQ(reply.answer.size(), 1u);
      ASSERT_EQ(reply.answer[0], "_mta-sts." + domain + ". 300 IN TXT \"v=STSv1; id=" + id + ";\"")
          << "confirmed v" << *m.confirmed << " newest staged v" << m.newest;
      // Never a staged-only version: no unconfirmed version's id for this period matches.
      for (const auto& [number, digest] : m.digests) {
        if (number == *m.confirmed) continue;
        ASSERT_EQ(reply.answer[0].find("id=" + policy_id(period, rotation_, number, digest) + ";"), std::string::npos)
            << "served the id of unconfirmed version " << number;
      }
      // status() agrees with DNS, and so does the compact served view.
      ASSERT_EQ(state_->status(domain, now)->served_id, id);
      const auto view = state_->served_wire(as_wire(domain));
      ASSERT_TRUE(view);
      char buffer[kMaxIdLength];
      ASSERT_EQ(std::string(buffer, view.id_at(now, rotation_, buffer)), id);
      ASSERT_EQ(view.held_since(), m.held_since);
    }
  }

  int restarts() const { return restarts_; }

 private:
  void start() {
    state_ = std::make_shared<PolicyState>(store_.db(), clock_);
    const std::string config = "nameservers: [ns1.provider.test.]\nrotation: " + std::to_string(rotation_.count()) + "s\n";
    auto parsed = parse_mtasts_config(
        ConfigNode(YAML::Load(config), std::make_shared<const std::filesystem::path>("property.yaml"), "mtasts"));
    state_->set_rotation(parsed.rotation);
    plugin_ = std::make_unique<MtastsPlugin>(std::move(parsed), state_, clock_);
  }
  void restart() {
    plugin_.reset();
    state_.reset();
    store_.reopen();
    start();
    ++restarts_;
  }

  std::mt19937_64 random_;
  test_support::TempStore store_;
  std::shared_ptr<ManualClock> clock_;
  std::chrono::seconds rotation_{3600};
  std::shared_ptr<PolicyState> state_;
  std::unique_ptr<MtastsPlugin> plugin_;
  std::map<std::string, ModelDomain> model_;
  int restarts_ = 0;
};

TEST(ServedIdProperty, FollowsTheLatestConfirmedVersionAndThePeriod) {
  // STSD_PROPERTY_RUNS / STSD_PROPERTY_STEPS scale the test (defaults: 3,000 steps).
  const int runs = env_int("STSD_PROPERTY_RUNS", 30);
  const int steps = env_int("STSD_PROPERTY_STEPS", 100);
  int restarts = 0;
  for (int r = 0; r < runs; ++r) {
    const uint64_t seed = 0x5757'0000ull + static_cast<uint64_t>(r);
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomRun run(seed);
    for (int s = 0; s < steps; ++s) {
      SCOPED_TRACE("step " + std::to_string(s));
      ASSERT_NO_FATAL_FAILURE(run.step());
      ASSERT_NO_FATAL_FAILURE(run.check_served());
    }
    restarts += run.restarts();
  }
  EXPECT_GT(restarts, 0) << "the sequences must include restarts";
}

// Property: after every step of random add / remove / stage / confirm / hold / settings /
// import / restart sequences over nested names, the compact served index (what DNS reads)
// agrees with status() (what RocksDB holds): membership, confirmed version, id, hold,
// TLS-RPT rdata; every proper ancestor of a domain (and nothing else) is an empty
// non-terminal; and domains() and pending_domains() match.
class IndexRun {
 public:
  explicit IndexRun(uint64_t seed) : random_(seed) {
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kJan1 + random_() % 86400)));
    state_ = std::make_unique<PolicyState>(store_.db(), clock_);
    // Names that nest (ancestors that are domains too), share parents, or stand alone;
    // and many siblings so that several share a shard.
    pool_ = {"example.com", "a.example.com", "b.a.example.com", "c.b.a.example.com", "x.example.net",
             "y.x.example.net", "example.org", "deep.er.than.most.example.org", "er.than.most.example.org"};
    for (int i = 0; i < 40; ++i) pool_.push_back("s" + std::to_string(i) + ".sib.example");
  }

  void step() {
    const std::string domain = pool_[random_() % pool_.size()];
    const bool present = present_.count(domain) > 0;
    const int op = static_cast<int>(random_() % 100);
    try {
      if (op < 20) {
        if (present) state_->remove_domain(domain), present_.erase(domain);
        else state_->add_domain(domain, random_settings()), present_.insert(domain);
      } else if (op < 45) {
        if (!present) return;
        state_->stage(domain, Policy{Mode::Enforce, {"mx" + std::to_string(random_() % 3) + "." + domain}, 86400}, random_() % 2);
      } else if (op < 65) {
        if (!present) return;
        const auto st = state_->status(domain, now());
        if (st->staged) state_->confirm(domain, st->staged->number, random_() % 2, "property", "step");
      } else if (op < 72) {
        if (!present) return;
        if (random_() % 2) state_->set_hold(domain, std::string("drift"));
        else state_->set_hold(domain, std::nullopt);
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
        state_ = std::make_unique<PolicyState>(store_.db(), clock_);
      }
    } catch (const PolicyError&) {
      // Refused writes (e.g. a hold with nothing confirmed) change nothing; checked below.
    }
  }

  void check() {
    const int64_t t = now();
    std::set<std::string> ancestors;
    for (const auto& d : present_)
      for (size_t dot = d.find('.'); dot != std::string::npos; dot = d.find('.', dot + 1)) ancestors.insert(d.substr(dot + 1));
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
        if (name.find('.') != std::string::npos) ASSERT_FALSE(state_->status(name, t)) << name;   // "com": not a domain name
        continue;
      }
      const auto st = state_->status(name, t);
      ASSERT_TRUE(st) << name;
      if (st->staged && (!st->confirmed || st->staged->number > st->confirmed->number)) pending.push_back(name);
      ASSERT_EQ(view.has_confirmed(), st->confirmed.has_value()) << name;
      ASSERT_EQ(view.confirmed_version(), st->confirmed ? st->confirmed->number : 0u) << name;
      char id[kMaxIdLength];
      ASSERT_EQ(std::string(id, view.id_at(t, hours(24), id)), st->served_id) << name;
      ASSERT_EQ(view.held_since(), st->hold ? std::optional<int64_t>(st->hold->since) : std::nullopt) << name;
      const std::string record = tlsrpt_record(st->settings.tlsrpt_rua);
      const auto rdata = view.tlsrpt_rdata();
      ASSERT_EQ(std::string(reinterpret_cast<const char*>(rdata.data()), rdata.size()),
                record.empty() ? std::string() : std::string(1, static_cast<char>(record.size())) + record) << name;
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
  std::unique_ptr<PolicyState> state_;
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
}  // namespace stsd::mtasts
