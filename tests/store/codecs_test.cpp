// The stored JSON forms (store/codecs.h): the encoders write exactly what nlohmann::json's
// dump() wrote for the same values before they were written by hand (existing stores hold
// that text), and every value reads back as it was written.
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "store/codecs.h"

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::store {
namespace {

using json = nlohmann::json;

// The encoders as they were, through a json tree: the reference.
std::string reference_record(const DomainRecord& r) {
  json j{{"created_at", r.created_at}, {"tlsrpt_rua", r.settings.tlsrpt_rua}, {"vantages", r.settings.vantages},
         {"staged", r.staged ? r.staged->number : 0}, {"confirmed", r.confirmed ? r.confirmed->number : 0},
         {"last_number", r.last_number}, {"txt_changed_at", r.txt_changed_at},
         {"settings_changed_at", r.settings_changed_at}};
  if (r.confirmation)
    j["confirmation"] = json{{"version", r.confirmation->version}, {"at", r.confirmation->at},
                             {"manual", r.confirmation->manual}, {"reason", r.confirmation->reason}};
  if (r.hold) j["hold"] = json{{"reason", r.hold->reason}, {"since", r.hold->since}};
  if (r.rotate_until) j["rotate_until"] = *r.rotate_until;
  if (r.retirement) {
    json t{{"since", r.retirement->since}, {"reason", r.retirement->reason}, {"version", r.retirement->version}};
    if (r.retirement->removal)
      t["removal"] = json{{"until", r.retirement->removal->until}, {"version", r.retirement->removal->version},
                          {"max_age", r.retirement->removal->max_age},
                          {"served_until", r.retirement->removal->served_until}};
    j["retirement"] = t;
  }
  return j.dump();
}

std::string reference_version(const PolicyVersion& v) {
  return json{{"number", v.number}, {"mode", std::string(mode_name(v.policy.mode))}, {"mx", v.policy.mx},
              {"max_age", v.policy.max_age}, {"created_at", v.created_at}, {"digest", v.digest}}.dump();
}

std::string reference_event(const Event& e) {
  return json{{"seq", e.seq}, {"at", e.at}, {"kind", e.kind}, {"version", e.version}, {"detail", e.detail}}.dump();
}

// Text that needs every kind of escape, and text that is not ASCII.
const std::vector<std::string> kTexts = {
  "", "import", "migrated from provider X (import)", "say \"hi\"", "back\\slash", "tab\there",
  "line\nbreak\r\n", std::string("nul\0byte", 8), "\x01\x1f\x7f\b\f", "/slash/", "caf\xc3\xa9 \xe2\x9c\x93",
};

PolicyVersion version(uint32_t number, Mode mode, std::vector<std::string> mx) {
  Policy policy{mode, std::move(mx), 604800};
  return PolicyVersion{number, policy, 1735689600 + number, policy_digest(policy)};
}

std::vector<DomainRecord> records() {
  std::vector<DomainRecord> list;
  DomainRecord bare;
  list.push_back(bare);
  DomainRecord full;
  full.created_at = 1735689600;
  full.settings = {{"mailto:tls@example.com", "https://r.example/v1"}, {"192.0.2.7", "2001:db8::1"}};
  full.staged = std::make_shared<const PolicyVersion>(version(7, Mode::Enforce, {"mx.example.com"}));
  full.confirmed = std::make_shared<const PolicyVersion>(version(6, Mode::Testing, {"mx.example.com"}));
  full.last_number = 4294967295u;
  full.txt_changed_at = -1;
  full.settings_changed_at = INT64_MAX;
  full.confirmation = Confirmation{6, 1735690000, true, "served since Monday"};
  full.hold = Hold{"drift", 1735700000};
  full.rotate_until = INT64_MIN;
  full.retirement = Retirement{1735800000, "leaving", 8, CacheHorizon{1736000000, 6, 604800, 1735900000}};
  list.push_back(full);
  for (const auto& text : kTexts) {
    DomainRecord r = full;
    r.confirmation->reason = text;
    r.confirmation->manual = false;
    r.hold->reason = text;
    r.retirement->reason = text;
    r.retirement->removal.reset();
    r.settings.tlsrpt_rua = {text, text};
    r.rotate_until.reset();
    list.push_back(r);
  }
  return list;
}

TEST(Codecs, RecordsAreWrittenAsBeforeAndReadBack) {
  for (const auto& r : records()) {
    const std::string text = encode_record(r);
    EXPECT_EQ(text, reference_record(r));
    const StoredRecord back = decode_record(text);
    EXPECT_EQ(back.staged, r.staged ? r.staged->number : 0);
    EXPECT_EQ(back.confirmed, r.confirmed ? r.confirmed->number : 0);
    EXPECT_EQ(back.record.settings.tlsrpt_rua, r.settings.tlsrpt_rua);
    EXPECT_EQ(back.record.rotate_until, r.rotate_until);
    EXPECT_EQ(back.record.confirmation.has_value(), r.confirmation.has_value());
    if (r.confirmation) {
      EXPECT_EQ(back.record.confirmation->reason, r.confirmation->reason);
    }
    DomainRecord again = back.record;  // the versions are read separately (by number)
    again.staged = r.staged;
    again.confirmed = r.confirmed;
    EXPECT_EQ(encode_record(again), text) << "everything reads back";
  }
}

TEST(Codecs, VersionsAndEventsAreWrittenAsBeforeAndReadBack) {
  for (const auto& text : kTexts) {
    const PolicyVersion v = version(3, Mode::None, {text, "*.mail." + text});
    EXPECT_EQ(encode_version(v), reference_version(v));
    const PolicyVersion back = decode_version(encode_version(v));
    EXPECT_EQ(back.policy.mx, v.policy.mx);
    EXPECT_EQ(back.digest, v.digest);
    const Event e{18446744073709551615ull, -5, "staged", 4294967295u, text};
    EXPECT_EQ(encode_event(e), reference_event(e));
    const Event read = decode_event(encode_event(e));
    EXPECT_EQ(read.detail, text);
    EXPECT_EQ(read.seq, e.seq);
  }
}

TEST(Codecs, TextThatIsNotUtf8IsRefusedAsBefore) {
  const Event e{1, 1, "staged", 1, "bad \xff byte"};
  EXPECT_THROW(reference_event(e), json::exception);
  EXPECT_THROW(encode_event(e), json::exception);
}

}  // namespace
}  // namespace stsd::store
