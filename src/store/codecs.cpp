#include "store/codecs.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace stsd::store {

using json = nlohmann::json;

namespace {

json retirement_json(const Retirement& r) {
  json j{{"since", r.since}, {"reason", r.reason}, {"version", r.version}};
  if (r.removal)
    j["removal"] = json{{"until", r.removal->until},
                        {"version", r.removal->version},
                        {"max_age", r.removal->max_age},
                        {"served_until", r.removal->served_until}};
  return j;
}

Retirement retirement_of(const json& j) {
  Retirement r{j.at("since").get<int64_t>(), j.at("reason").get<std::string>(), j.at("version").get<uint32_t>(), {}};
  if (j.contains("removal")) {
    const auto& h = j["removal"];
    r.removal = CacheHorizon{h.at("until").get<int64_t>(), h.at("version").get<uint32_t>(),
                             h.at("max_age").get<uint32_t>(), h.at("served_until").get<int64_t>()};
  }
  return r;
}

}  // namespace

std::string encode_record(const DomainRecord& r) {
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
  if (r.rotate_until) j["rotate_until"] = *r.rotate_until;
  if (r.retirement) j["retirement"] = retirement_json(*r.retirement);
  return j.dump();
}

StoredRecord decode_record(std::string_view text) {
  const auto j = json::parse(text);
  StoredRecord stored;
  DomainRecord& r = stored.record;
  r.created_at = j.at("created_at").get<int64_t>();
  r.settings.tlsrpt_rua = j.at("tlsrpt_rua").get<std::vector<std::string>>();
  r.settings.vantages = j.at("vantages").get<std::vector<std::string>>();
  stored.staged = j.at("staged").get<uint32_t>();
  stored.confirmed = j.at("confirmed").get<uint32_t>();
  r.last_number = j.at("last_number").get<uint32_t>();
  r.txt_changed_at = j.at("txt_changed_at").get<int64_t>();
  r.settings_changed_at = j.at("settings_changed_at").get<int64_t>();
  if (j.contains("confirmation")) {
    const auto& c = j["confirmation"];
    r.confirmation = Confirmation{c.at("version").get<uint32_t>(), c.at("at").get<int64_t>(),
                                  c.at("manual").get<bool>(), c.at("reason").get<std::string>()};
  }
  if (j.contains("hold"))
    r.hold = Hold{j["hold"].at("reason").get<std::string>(), j["hold"].at("since").get<int64_t>()};
  if (j.contains("rotate_until")) r.rotate_until = j["rotate_until"].get<int64_t>();
  if (j.contains("retirement")) r.retirement = retirement_of(j["retirement"]);
  return stored;
}

std::string encode_version(const PolicyVersion& v) {
  return json{{"number", v.number},         {"mode", std::string(mode_name(v.policy.mode))},
              {"mx", v.policy.mx},          {"max_age", v.policy.max_age},
              {"created_at", v.created_at}, {"digest", v.digest}}
      .dump();
}

PolicyVersion decode_version(std::string_view text) {
  const auto j = json::parse(text);
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

std::string encode_event(const Event& e) {
  return json{{"seq", e.seq}, {"at", e.at}, {"kind", e.kind}, {"version", e.version}, {"detail", e.detail}}.dump();
}

Event decode_event(std::string_view text) {
  const auto j = json::parse(text);
  Event e;
  e.seq = j.at("seq").get<uint64_t>();
  e.at = j.at("at").get<int64_t>();
  e.kind = j.at("kind").get<std::string>();
  e.version = j.at("version").get<uint32_t>();
  e.detail = j.at("detail").get<std::string>();
  return e;
}

}  // namespace stsd::store
