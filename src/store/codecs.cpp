#include "store/codecs.h"

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstdio>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace stsd::store {

using json = nlohmann::json;

namespace {

// The encoders write the text nlohmann::json's dump() writes for the same values (members
// in name order, no spaces, the same escapes), without building a json tree first: an
// import encodes five values a domain, and the tree was a fifth of its time (issue 15).
// Decoders read either. Members must be added in name order.
class JsonObject {
 public:
  JsonObject() {
    text_.reserve(256);  // a domain record, a version or an event fits
    text_ = "{";
  }

  void number(std::string_view name, std::integral auto value) {
    key(name);
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    text_.append(digits, end);
  }
  void boolean(std::string_view name, bool value) {
    key(name);
    text_ += value ? "true" : "false";
  }
  void string(std::string_view name, std::string_view value) {
    key(name);
    append_string(value);
  }
  void strings(std::string_view name, const std::vector<std::string>& values) {
    key(name);
    text_ += '[';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) text_ += ',';
      append_string(values[i]);
    }
    text_ += ']';
  }
  void object(std::string_view name, JsonObject&& value) {
    key(name);
    text_ += std::move(value).text();
  }
  std::string text() && {
    text_ += '}';
    return std::move(text_);
  }

 private:
  void key(std::string_view name) {
    if (text_.size() > 1) text_ += ',';
    text_ += '"';
    text_ += name;  // the codecs' own names: nothing to escape
    text_ += "\":";
  }
  // ASCII as dump() escapes it, runs that need no escape appended whole; text with other
  // bytes goes through nlohmann itself, which checks that it is UTF-8 (and throws when it
  // is not, as before).
  void append_string(std::string_view value) {
    const size_t mark = text_.size();
    text_ += '"';
    size_t run = 0;  // start of the run not yet appended
    for (size_t i = 0; i < value.size(); ++i) {
      const auto c = static_cast<unsigned char>(value[i]);
      if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
      if (c >= 0x80) {
        text_.resize(mark);
        text_ += json(std::string(value)).dump();
        return;
      }
      text_.append(value.data() + run, i - run);
      run = i + 1;
      switch (c) {
        case '"': text_ += "\\\""; break;
        case '\\': text_ += "\\\\"; break;
        case '\b': text_ += "\\b"; break;
        case '\t': text_ += "\\t"; break;
        case '\n': text_ += "\\n"; break;
        case '\f': text_ += "\\f"; break;
        case '\r': text_ += "\\r"; break;
        default: {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          text_ += escaped;
        }
      }
    }
    text_.append(value.data() + run, value.size() - run);
    text_ += '"';
  }

  std::string text_;
};

JsonObject retirement_json(const Retirement& r) {
  JsonObject j;
  j.string("reason", r.reason);
  if (r.removal) {
    JsonObject removal;
    removal.number("max_age", r.removal->max_age);
    removal.number("served_until", r.removal->served_until);
    removal.number("until", r.removal->until);
    removal.number("version", r.removal->version);
    j.object("removal", std::move(removal));
  }
  j.number("since", r.since);
  j.number("version", r.version);
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
  JsonObject j;
  if (r.confirmation) {
    JsonObject c;
    c.number("at", r.confirmation->at);
    c.boolean("manual", r.confirmation->manual);
    c.string("reason", r.confirmation->reason);
    c.number("version", r.confirmation->version);
    j.object("confirmation", std::move(c));
  }
  j.number("confirmed", r.confirmed ? r.confirmed->number : 0);
  j.number("created_at", r.created_at);
  if (r.hold) {
    JsonObject h;
    h.string("reason", r.hold->reason);
    h.number("since", r.hold->since);
    j.object("hold", std::move(h));
  }
  j.number("last_number", r.last_number);
  if (r.retirement) j.object("retirement", retirement_json(*r.retirement));
  if (r.rotate_until) j.number("rotate_until", *r.rotate_until);
  j.number("settings_changed_at", r.settings_changed_at);
  j.number("staged", r.staged ? r.staged->number : 0);
  j.strings("tlsrpt_rua", r.settings.tlsrpt_rua);
  j.number("txt_changed_at", r.txt_changed_at);
  j.strings("vantages", r.settings.vantages);
  return std::move(j).text();
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
  JsonObject j;
  j.number("created_at", v.created_at);
  j.string("digest", v.digest);
  j.number("max_age", v.policy.max_age);
  j.string("mode", mode_name(v.policy.mode));
  j.strings("mx", v.policy.mx);
  j.number("number", v.number);
  return std::move(j).text();
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
  JsonObject j;
  j.number("at", e.at);
  j.string("detail", e.detail);
  j.string("kind", e.kind);
  j.number("seq", e.seq);
  j.number("version", e.version);
  return std::move(j).text();
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
