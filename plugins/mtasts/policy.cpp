// Policies (RFC 8461 §3.2), TLS-RPT rua URIs (RFC 8460 §3), domain names and the id.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>
#include <set>

#include <boost/asio/ip/address.hpp>
#include <openssl/evp.h>

#include "net/address.h"
#include "state.h"

namespace stsd::mtasts {

namespace {

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Host name rules shared by domains, mx patterns and URI hosts: LDH labels of 1-63
// octets, no leading/trailing hyphen (RFC 1123 §2.1), total at most 253 characters,
// at least `min_labels` labels, and not an IPv4 address in disguise (all-numeric last label).
std::string host_name_error(std::string_view host, size_t min_labels) {
  if (host.empty()) return "is empty";
  if (host.size() > 253) return "is longer than 253 characters";
  if (host.back() == '.') return "must not end with a dot";
  size_t labels = 0;
  size_t start = 0;
  std::string_view last;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return "has an empty label";
    if (label.size() > 63) return "has a label longer than 63 characters";
    for (char c : label) {
      if (static_cast<unsigned char>(c) >= 0x80)
        return "contains a non-ASCII character (use the xn-- form of an internationalized name)";
      if (!is_ascii_alpha(c) && !is_ascii_digit(c) && c != '-')
        return std::string("contains '") + c + "' (only letters, digits, '-' and '.' are allowed)";
    }
    if (label.front() == '-' || label.back() == '-') return "has a label that starts or ends with '-'";
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (std::all_of(last.begin(), last.end(), is_ascii_digit)) return "is an IP address or ends in a numeric label";
  if (labels < min_labels) return "must be a fully qualified name (at least " + std::to_string(min_labels) + " labels)";
  return {};
}

bool looks_like_ip(std::string_view text) {
  if (text.find(':') != std::string_view::npos || text.find('[') != std::string_view::npos) return true;
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address_v4(std::string(text), ec);
  return !ec;
}

// RFC 8461 §3.2: sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool valid_field_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  if (!is_ascii_alpha(name[0]) && !is_ascii_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '-' || c == '.'; });
}

std::vector<std::string> unique_lowercase(const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& p : patterns) {
    auto l = lowercase(p);
    if (seen.insert(l).second) out.push_back(std::move(l));
  }
  return out;
}

std::string missing_mx_message(Mode mode) {
  if (mode == Mode::None)
    return "mode none still needs at least one mx pattern (some senders, e.g. Stalwart, reject a policy without "
           "one); list the current MX hosts";
  return "at least one mx pattern is required in mode " + std::string(mode == Mode::Enforce ? "enforce" : "testing") +
         " (RFC 8461 §3.2)";
}

}  // namespace

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::Enforce: return "enforce";
    case Mode::Testing: return "testing";
    case Mode::None: return "none";
  }
  return "none";
}

std::optional<Mode> mode_from_string(std::string_view text) {
  if (text == "enforce") return Mode::Enforce;
  if (text == "testing") return Mode::Testing;
  if (text == "none") return Mode::None;
  return std::nullopt;
}

std::string mx_pattern_error(std::string_view pattern) {
  if (pattern.empty()) return "mx pattern is empty";
  std::string_view host = pattern;
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.find('*') != std::string_view::npos)
    return "mx pattern '" + std::string(pattern) +
           "': a wildcard is only allowed as the whole leftmost label (\"*.example.com\", RFC 8461 §3.2)";
  if (looks_like_ip(host))
    return "mx pattern '" + std::string(pattern) + "' is an IP address; mx patterns are host names (RFC 8461 §4.1)";
  auto error = host_name_error(host, 2);
  if (!error.empty()) return "mx pattern '" + std::string(pattern) + "' " + error;
  return {};
}

bool mx_pattern_matches(std::string_view pattern, std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!pattern.empty() && pattern.back() == '.') pattern.remove_suffix(1);
  if (pattern.starts_with("*.")) {
    // RFC 8461 §4.1: the wildcard matches exactly one label: "*.example.com" matches
    // "mx.example.com" but neither "example.com" nor "a.b.example.com".
    const auto base = pattern.substr(2);
    const auto dot = host.find('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    return iequals(host.substr(dot + 1), base);
  }
  return iequals(pattern, host);
}

std::vector<Diagnostic> policy_errors(const Policy& policy) {
  std::vector<Diagnostic> errors;
  if (policy.mx.empty()) errors.push_back({0, missing_mx_message(policy.mode)});
  for (const auto& pattern : policy.mx) {
    auto error = mx_pattern_error(pattern);
    if (!error.empty()) errors.push_back({0, std::move(error)});
  }
  if (policy.max_age > kMaxMaxAge)
    errors.push_back({0, "max_age " + std::to_string(policy.max_age) + " exceeds the maximum " +
                             std::to_string(kMaxMaxAge) + " (RFC 8461 §3.2)"});
  if (errors.empty() && render_policy(policy).size() > kMaxPolicyBytes)
    errors.push_back({0, "the policy file would exceed 64 KiB, which senders refuse to fetch (RFC 8461 §3.3)"});
  return errors;
}

std::vector<Diagnostic> policy_warnings(const Policy& policy, const Policy* confirmed) {
  std::vector<Diagnostic> warnings;
  if (policy.max_age < kShortMaxAge)
    warnings.push_back({0, "max_age " + std::to_string(policy.max_age) +
                               " is under one day: lowering max_age weakens protection; keep it long and let the id "
                               "rotation keep senders fresh"});
  if (confirmed && policy.max_age < confirmed->max_age)
    warnings.push_back({0, "max_age lowered from " + std::to_string(confirmed->max_age) + " to " +
                               std::to_string(policy.max_age) + ": senders that cached the confirmed policy keep it for up to " +
                               std::to_string(confirmed->max_age) + " seconds anyway"});
  std::set<std::string> seen;
  for (const auto& pattern : policy.mx) {
    if (!seen.insert(lowercase(pattern)).second)
      warnings.push_back({0, "mx pattern '" + pattern + "' is listed twice; it is rendered once"});
  }
  if (policy.mode == Mode::None && confirmed && confirmed->mode != Mode::None)
    warnings.push_back({0, "mode none switches MTA-STS off; to remove it, keep serving mode none until the previous "
                           "max_age has passed (RFC 8461 §8.3)"});
  return warnings;
}

ParsedPolicy parse_policy(std::string_view text) {
  ParsedPolicy result;
  auto error = [&](int line, std::string message) { result.errors.push_back({line, std::move(message)}); };
  auto warning = [&](int line, std::string message) { result.warnings.push_back({line, std::move(message)}); };

  if (text.size() > kMaxPolicyBytes) {
    error(0, "the policy is larger than 64 KiB, which senders refuse (RFC 8461 §3.3)");
    return result;
  }
  if (text.empty()) {
    error(0, "the policy is empty");
    return result;
  }

  Policy policy;
  int version_line = 0, mode_line = 0, max_age_line = 0, first_mx_line = 0;
  int line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_number;
    size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    bool bad_byte = false;
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) {
        error(line_number, "non-ASCII character (senders decode the policy as ASCII)");
        bad_byte = true;
        break;
      }
      if ((u < 0x20 && c != '\t') || u == 0x7f) {
        error(line_number, u == '\r' ? "stray carriage return (lines end with LF or CRLF)" : "control character");
        bad_byte = true;
        break;
      }
    }
    if (bad_byte) continue;
    if (trim_wsp(line).empty()) {
      error(line_number, "blank line (RFC 8461 §3.2 has none; mox, maddy and postfix-tlspol reject the policy)");
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      error(line_number, "expected 'key: value'");
      continue;
    }
    const std::string_view key = line.substr(0, colon);
    std::string_view raw_value = line.substr(colon + 1);
    if (key != trim_wsp(key) || key.empty()) {
      error(line_number, "whitespace around the field name '" + std::string(trim_wsp(key)) +
                             "' (RFC 8461 §3.2 allows none before ':'; postfix-mta-sts-resolver does not trim keys)");
      continue;
    }
    if (!raw_value.empty() && raw_value.front() != ' ' && raw_value.front() != '\t')
      warning(line_number, "no space after ':' (valid, but stsd renders 'key: value')");
    const std::string_view value = trim_wsp(raw_value);

    if (key == "version") {
      if (version_line) {
        error(line_number, "duplicate version field (first on line " + std::to_string(version_line) + ")");
        continue;
      }
      version_line = line_number;
      if (line_number != 1) error(line_number, "version must be the first field (RFC 8461 §3.2)");
      if (value != "STSv1") error(line_number, "version must be STSv1, got '" + std::string(value) + "'");
    } else if (key == "mode") {
      if (mode_line) {
        error(line_number, "duplicate mode field (first on line " + std::to_string(mode_line) + ")");
        continue;
      }
      mode_line = line_number;
      auto mode = mode_from_string(value);
      if (!mode)
        error(line_number, "mode must be enforce, testing or none, got '" + std::string(value) + "'");
      else
        policy.mode = *mode;
    } else if (key == "max_age") {
      if (max_age_line) {
        error(line_number, "duplicate max_age field (first on line " + std::to_string(max_age_line) + ")");
        continue;
      }
      max_age_line = line_number;
      uint64_t seconds = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (value.empty() || value.size() > 10 || ec != std::errc() || ptr != value.data() + value.size()) {
        error(line_number, "max_age must be a number of seconds (1 to 10 digits), got '" + std::string(value) + "'");
      } else if (seconds > kMaxMaxAge) {
        error(line_number, "max_age " + std::to_string(seconds) + " exceeds the maximum " + std::to_string(kMaxMaxAge) +
                               " (RFC 8461 §3.2)");
      } else {
        policy.max_age = static_cast<uint32_t>(seconds);
      }
    } else if (key == "mx") {
      if (!first_mx_line) first_mx_line = line_number;
      auto problem = mx_pattern_error(value);
      if (!problem.empty())
        error(line_number, problem);
      else
        policy.mx.push_back(std::string(value));
    } else if (iequals(key, "version") || iequals(key, "mode") || iequals(key, "max_age") || iequals(key, "mx")) {
      error(line_number, "field names are case-sensitive: write '" + lowercase(key) + "'");
    } else if (!valid_field_name(key)) {
      error(line_number, "invalid field name '" + std::string(key) + "'");
    } else {
      warning(line_number, "unknown field '" + std::string(key) + "' is ignored by senders and not rendered by stsd");
    }
  }

  if (!version_line) error(1, "missing 'version: STSv1' (it must be the first line)");
  if (!mode_line) error(0, "missing mode field");
  if (!max_age_line) error(0, "missing max_age field");
  if (!first_mx_line) error(0, missing_mx_message(policy.mode));
  if (!result.errors.empty()) return result;

  for (auto& w : policy_warnings(policy, nullptr)) result.warnings.push_back(std::move(w));
  policy.mx = unique_lowercase(policy.mx);
  result.policy = std::move(policy);
  return result;
}

std::string render_policy(const Policy& policy) {
  // The form every known sender accepts (MTA-STS-FACTS.md): version first, one space after
  // each colon, CRLF, no blank line, each key once, mx lines in the given order.
  std::string out = "version: STSv1\r\nmode: ";
  out += mode_name(policy.mode);
  out += "\r\n";
  for (const auto& pattern : unique_lowercase(policy.mx)) {
    out += "mx: ";
    out += pattern;
    out += "\r\n";
  }
  out += "max_age: ";
  out += std::to_string(policy.max_age);
  out += "\r\n";
  return out;
}

std::string policy_digest(const Policy& policy) {
  const auto text = render_policy(policy);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int length = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), text.data(), text.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md.data(), &length) != 1)
    throw std::runtime_error("SHA-256 failed (OpenSSL)");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned i = 0; i < length; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

bool same_policy(const Policy& a, const Policy& b) {
  if (a.mode != b.mode || a.max_age != b.max_age) return false;
  auto sa = unique_lowercase(a.mx), sb = unique_lowercase(b.mx);
  std::sort(sa.begin(), sa.end());
  std::sort(sb.begin(), sb.end());
  return sa == sb;
}

std::string normalize_domain(std::string_view domain) {
  std::string_view d = domain;
  if (!d.empty() && d.back() == '.') d.remove_suffix(1);
  auto lower = lowercase(d);
  if (looks_like_ip(lower)) throw PolicyError("domain '" + std::string(domain) + "' is an IP address, not a domain");
  auto error = host_name_error(lower, 2);
  if (!error.empty()) throw PolicyError("domain '" + std::string(domain) + "' " + error);
  // `_smtp._tls.<domain>.` must fit in 255 wire octets (RFC 1035 §2.3.4): text length + 2
  // (first length octet and root) + 11.
  if (lower.size() + 2 + 11 > 255)
    throw PolicyError("domain '" + std::string(domain) + "' is too long: _smtp._tls." + lower +
                      ". would exceed 255 octets");
  return lower;
}

std::string tlsrpt_rua_error(std::string_view uri) {
  const std::string shown = "rua '" + std::string(uri) + "'";
  for (char c : uri) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || u <= 0x20 || u == 0x7f) return shown + " contains a space, control or non-ASCII character";
    if (c == ',' || c == ';' || c == '!')
      return shown + " contains '" + std::string(1, c) + "' (percent-encode it: the record separates URIs with ',' and fields with ';', RFC 8460 §3)";
  }
  if (uri.size() >= 7 && iequals(uri.substr(0, 7), "mailto:")) {
    auto address = uri.substr(7);
    auto query = address.find('?');
    if (query != std::string_view::npos) address = address.substr(0, query);
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size())
      return shown + ": mailto: needs an address such as mailto:tls-reports@example.com";
    auto error = host_name_error(lowercase(address.substr(at + 1)), 2);
    if (!error.empty()) return shown + ": mail domain " + error;
    return {};
  }
  if (uri.size() >= 8 && iequals(uri.substr(0, 8), "https://")) {
    auto rest = uri.substr(8);
    auto host = rest.substr(0, rest.find_first_of("/?#"));
    if (host.find('@') != std::string_view::npos) return shown + ": credentials are not allowed in the URI";
    if (auto colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
      auto port_text = host.substr(colon + 1);
      unsigned port = 0;
      auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
      if (port_text.empty() || ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535)
        return shown + ": bad port '" + std::string(port_text) + "'";
      host = host.substr(0, colon);
    }
    auto error = host_name_error(lowercase(host), 2);
    if (!error.empty()) return shown + ": host " + error;
    return {};
  }
  return shown + " must be a mailto: or https: URI (RFC 8460 §3)";
}

std::string tlsrpt_record(const std::vector<std::string>& rua) {
  if (rua.empty()) return {};
  std::string out = "v=TLSRPTv1; rua=";
  for (size_t i = 0; i < rua.size(); ++i) {
    if (i) out += ',';
    out += rua[i];
  }
  return out;
}

std::string vantage_error(std::string_view vantage) {
  // Any port will do as the default: only whether the text parses matters here.
  const auto parsed = net::parse_address_port(vantage, 443);
  return parsed ? std::string() : "vantage " + parsed.error();
}

// ---------------------------------------------------------------------------------------
// The id
// ---------------------------------------------------------------------------------------

int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

int64_t period_start(int64_t unix_now, std::chrono::seconds rotation) {
  const int64_t r = rotation.count() > 0 ? rotation.count() : 86400;
  int64_t q = unix_now / r;
  if (unix_now % r < 0) --q;   // floor for times before the epoch
  return q * r;
}

namespace {

// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += (m <= 2);
}

void put_digits(char* out, size_t& len, uint64_t value, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    out[len + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  len += static_cast<size_t>(width);
}

}  // namespace

namespace detail {

// The period-start part of the id ("YYYYMMDD", "YYYYMMDDhh"...): at most 14 characters.
size_t format_period_prefix(char* out, int64_t period_start_unix, std::chrono::seconds rotation) noexcept {
  const int64_t r = rotation.count() > 0 ? rotation.count() : 86400;
  int64_t days = period_start_unix / 86400;
  int64_t secs = period_start_unix % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, year, month, day);
  if (year < 0) year = 0;
  size_t len = 0;
  put_digits(out, len, static_cast<uint64_t>(year % 10000), 4);
  put_digits(out, len, month, 2);
  put_digits(out, len, day, 2);
  // The period start is shown as precisely as the rotation needs, so that two periods
  // never share a prefix.
  if (r % 86400 != 0) {
    put_digits(out, len, static_cast<uint64_t>(secs / 3600), 2);
    if (r % 3600 != 0) {
      put_digits(out, len, static_cast<uint64_t>(secs / 60 % 60), 2);
      if (r % 60 != 0) put_digits(out, len, static_cast<uint64_t>(secs % 60), 2);
    }
  }
  return len;
}

// Appends "v<version>" to an id of `len` characters; returns the new length.
size_t append_version(char (&out)[kMaxIdLength], size_t len, uint32_t version) noexcept {
  out[len++] = 'v';
  char number[10];
  size_t digits = 0;
  uint32_t n = version;
  do {
    number[digits++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n && digits < sizeof number);
  while (digits) out[len++] = number[--digits];
  return len;
}

}  // namespace detail

size_t format_policy_id(char (&out)[kMaxIdLength], int64_t period_start_unix, std::chrono::seconds rotation,
                        uint32_t version, std::string_view digest_hex) noexcept {
  size_t len = detail::format_period_prefix(out, period_start_unix, rotation);
  len = detail::append_version(out, len, version);
  // The digest fragment: two different contents with the same version number (a restored
  // store) still get different ids within a period.
  out[len++] = 'd';
  size_t fragment = std::min<size_t>(12, kMaxIdLength - len);
  for (size_t i = 0; i < fragment && i < digest_hex.size(); ++i) {
    char c = digest_hex[i];
    out[len++] = (is_ascii_alpha(c) || is_ascii_digit(c)) ? ascii_lower(c) : '0';
  }
  return len;
}

std::string policy_id(int64_t period_start_unix, std::chrono::seconds rotation, uint32_t version,
                      std::string_view digest_hex) {
  char buffer[kMaxIdLength];
  return std::string(buffer, format_policy_id(buffer, period_start_unix, rotation, version, digest_hex));
}

int64_t ServedDomain::effective_period(int64_t unix_now, std::chrono::seconds rotation) const noexcept {
  return period_start(held_since ? *held_since : unix_now, rotation);
}

size_t ServedDomain::id_at(int64_t unix_now, std::chrono::seconds rotation, char (&out)[kMaxIdLength]) const noexcept {
  if (!confirmed) return 0;
  return format_policy_id(out, effective_period(unix_now, rotation), rotation, confirmed->number, confirmed->digest);
}

}  // namespace stsd::mtasts
