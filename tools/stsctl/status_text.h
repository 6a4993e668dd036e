#pragma once
// What stsctl prints from the admin API's status document (`stsctl status`), and the small
// text helpers the other commands share with it.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace stsctl {

// A JSON value as plain text ("" for null; strings without quotes).
std::string text_of(const nlohmann::json& value);
// An ISO 8601 time in a JSON string, as Unix seconds.
std::optional<int64_t> parse_iso(const nlohmann::json& value);
// "2 d 3 h", "5 min", "40 s".
std::string duration_words(int64_t seconds);
// "mode enforce, mx a b, max_age N" for a version document.
std::string policy_words(const nlohmann::json& version);
std::string join(const nlohmann::json& list, const std::string& separator);
// `stsctl status DOMAIN` in plain words.
void print_status(const nlohmann::json& status, std::ostream& out);

}  // namespace stsctl
