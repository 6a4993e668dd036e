// Property: after every step of random stage / confirm / hold / rotation evidence /
// advance-clock / restart sequences on a real RocksDB, the id the plugin serves is exactly
// the one derived from the latest confirmed version and the domain's own period at the
// effective time (now, or earlier: a hold, or evidence that ran out), and never reflects a
// staged-but-unconfirmed version. The model keeps every piece of evidence; the store
// writes only evidence that changes what senders may see, which must not show.
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
#include "property_support.h"
#include "store/policy_store.h"
#include "temp_store.h"

namespace stsd::mtasts {
namespace {

using namespace stsd::store;
using store::test_support::as_wire;
using store::test_support::env_int;

using std::chrono::hours;
using std::chrono::seconds;

constexpr int64_t kJan1 = 1735689600;
const std::vector<std::string> kDomains = {"a.example", "b.example.net", "c.example.org"};

struct ModelDomain {
  std::map<uint32_t, std::string> digests;  // every version ever staged
  std::optional<uint32_t> confirmed;
  std::optional<int64_t> held_since;
  std::optional<int64_t> rotate_until;
  uint32_t newest = 0;
};

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
      Policy p{static_cast<Mode>(random_() % 3),
               {"mx" + std::to_string(random_() % 4) + "." + domain},
               static_cast<uint32_t>(86400u * (1 + random_() % 3))};
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
      const bool manual = random_() % 2;
      const int64_t now = unix_seconds(clock_->now());
      std::optional<int64_t> evidence_until;
      if (!manual && random_() % 2) evidence_until = now + static_cast<int64_t>(random_() % (2 * rotation_.count()));
      try {
        state_->confirm(domain, version, manual, "property test", "step", evidence_until);
        ASSERT_TRUE(allowed) << "confirmed a version older than the confirmed one";
        m.confirmed = version;
        m.held_since.reset();
        if (evidence_until)
          m.rotate_until = std::max(m.rotate_until.value_or(*evidence_until), *evidence_until);
        else if (manual)
          m.rotate_until.reset();  // no verifier runs here: the operator's word lifts the gate
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
    } else if (op < 70) {
      // Rotation evidence, good or bad, fresh or old, about the confirmed version or not.
      if (!m.confirmed) return;
      const int64_t now = unix_seconds(clock_->now());
      RotationEvidence evidence;
      evidence.version = random_() % 8 ? *m.confirmed : *m.confirmed + 1;
      evidence.verified = random_() % 3 != 0;
      evidence.seen_at = now - static_cast<int64_t>(random_() % (rotation_.count() + 1));
      evidence.window = seconds(1 + random_() % rotation_.count());
      evidence.detail = "edge 192.0.2.7";
      state_->record_rotation_evidence(domain, evidence);
      if (evidence.version != *m.confirmed) return;
      if (evidence.verified) {
        const int64_t until = evidence.seen_at + evidence.window.count();
        m.rotate_until = m.rotate_until ? std::max(*m.rotate_until, until) : std::max(until, now);
      } else {
        m.rotate_until = std::min(m.rotate_until.value_or(now), now);
      }
    } else if (op < 97) {
      // Advance: often exactly to the domain's next boundary or one second before it.
      const int64_t now = unix_seconds(clock_->now());
      const int64_t next = period_at(now, rotation_hash(domain), RotationSchedule{rotation_, 0}).end;
      switch (random_() % 4) {
        case 0:
          clock_->set(std::chrono::system_clock::time_point(seconds(next)));
          break;
        case 1:
          clock_->set(std::chrono::system_clock::time_point(seconds(std::max(now, next - 1))));
          break;
        case 2:
          clock_->advance(seconds(random_() % 120));
          break;
        default:
          clock_->advance(seconds(random_() % (3 * rotation_.count())));
          break;
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
      // A zone shows a change at t from the second after it (zone_records.h), so for a
      // moment after changes made within one second the id may be that of a second or two
      // ahead of the clock: the store's stamp of the domain's last TXT change, or the
      // config's change time (the store's change floor), plus one.
      const auto served = state_->served(domain);
      ASSERT_TRUE(served);
      const int64_t shown = std::max({now, served->txt_changed_at + 1, state_->change_floor() + 1});
      const int64_t label =
          period_at(effective_time(shown, m.held_since, m.rotate_until), rotation_hash(domain), schedule()).label;
      const std::string id = policy_id(label, rotation_, *m.confirmed, m.digests.at(*m.confirmed));
      ASSERT_EQ(reply.answer.size(), 1u);
      ASSERT_EQ(reply.answer[0], "_mta-sts." + domain + ". 300 IN TXT \"v=STSv1; id=" + id + ";\"")
          << "confirmed v" << *m.confirmed << " newest staged v" << m.newest;
      // Never a staged-only version: no unconfirmed version's id for this period matches.
      for (const auto& [number, digest] : m.digests) {
        if (number == *m.confirmed) continue;
        ASSERT_EQ(reply.answer[0].find("id=" + policy_id(label, rotation_, number, digest) + ";"), std::string::npos)
            << "served the id of unconfirmed version " << number;
      }
      // status() agrees with DNS, and so does the compact served view at the shown time.
      ASSERT_EQ(state_->status(domain, now)->served_id, id);
      const auto view = state_->served_wire(as_wire(domain));
      ASSERT_TRUE(view);
      char buffer[kMaxIdLength];
      ASSERT_EQ(std::string(buffer, view.id_at(shown, schedule(), buffer)), id);
      ASSERT_EQ(view.held_since(), m.held_since);
    }
  }

  int restarts() const { return restarts_; }
  RotationSchedule schedule() const { return RotationSchedule{rotation_, 0}; }

 private:
  void start() {
    state_ = std::make_shared<PolicyStore>(store_.db(), clock_);
    const std::string config =
        "nameservers: [ns1.provider.test.]\nrotation: " + std::to_string(rotation_.count()) + "s\n";
    auto parsed = parse_mtasts_config(
        ConfigNode(YAML::Load(config), std::make_shared<const std::filesystem::path>("property.yaml"), "mtasts"));
    state_->set_rotation(parsed.rotation);
    plugin_ = std::make_unique<MtastsPlugin>(std::move(parsed), state_);
  }
  void restart() {
    plugin_.reset();
    state_.reset();
    store_.reopen();
    start();
    ++restarts_;
  }

  std::mt19937_64 random_;
  store::test_support::TempStore store_;
  std::shared_ptr<ManualClock> clock_;
  std::chrono::seconds rotation_{3600};
  std::shared_ptr<PolicyStore> state_;
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

}  // namespace
}  // namespace stsd::mtasts
