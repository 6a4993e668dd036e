// Domain names, TLS-RPT rua URIs (RFC 8460 §3) and vantages.
#include "store/names.h"

#include <algorithm>
#include <charconv>

#include <boost/asio/ip/address.hpp>

#include "net/address.h"
#include "store/ascii.h"
#include "store/errors.h"

namespace stsd::store {

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
      if (!ascii::is_alpha(c) && !ascii::is_digit(c) && c != '-')
        return std::string("contains '") + c + "' (only letters, digits, '-' and '.' are allowed)";
    }
    if (label.front() == '-' || label.back() == '-') return "has a label that starts or ends with '-'";
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (std::all_of(last.begin(), last.end(), ascii::is_digit)) return "is an IP address or ends in a numeric label";
  if (labels < min_labels) return "must be a fully qualified name (at least " + std::to_string(min_labels) + " labels)";
  return {};
}

bool looks_like_ip(std::string_view text) {
  if (text.find(':') != std::string_view::npos || text.find('[') != std::string_view::npos) return true;
  // Dotted decimal has digits and dots only: most names are told apart here, without the
  // parser's copy (every import row asks it of its domain and of each mx pattern).
  if (!std::all_of(text.begin(), text.end(), [](char c) { return ascii::is_digit(c) || c == '.'; })) return false;
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address_v4(std::string(text), ec);
  return !ec;
}

std::string normalize_domain(std::string_view domain) {
  std::string_view d = domain;
  if (!d.empty() && d.back() == '.') d.remove_suffix(1);
  auto lower = ascii::lowercase(d);
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
      return shown + " contains '" + std::string(1, c) +
             "' (percent-encode it: the record separates URIs with ',' and fields with ';', RFC 8460 §3)";
  }
  if (uri.size() >= 7 && ascii::iequals(uri.substr(0, 7), "mailto:")) {
    auto address = uri.substr(7);
    auto query = address.find('?');
    if (query != std::string_view::npos) address = address.substr(0, query);
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size())
      return shown + ": mailto: needs an address such as mailto:tls-reports@example.com";
    auto error = host_name_error(ascii::lowercase(address.substr(at + 1)), 2);
    if (!error.empty()) return shown + ": mail domain " + error;
    return {};
  }
  if (uri.size() >= 8 && ascii::iequals(uri.substr(0, 8), "https://")) {
    auto rest = uri.substr(8);
    auto host = rest.substr(0, rest.find_first_of("/?#"));
    if (host.find('@') != std::string_view::npos) return shown + ": credentials are not allowed in the URI";
    if (auto colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
      auto port_text = host.substr(colon + 1);
      unsigned port = 0;
      auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
      if (port_text.empty() || ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 ||
          port > 65535)
        return shown + ": bad port '" + std::string(port_text) + "'";
      host = host.substr(0, colon);
    }
    auto error = host_name_error(ascii::lowercase(host), 2);
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

}  // namespace stsd::store
