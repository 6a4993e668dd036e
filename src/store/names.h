#pragma once
// The names the store accepts: domains, and the names in a domain's settings (TLS-RPT rua
// URIs, confirmer vantages). Each check returns the reason in words, or throws PolicyError
// naming the input and the reason.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace stsd::store {

// Host name rules shared by domains, mx patterns and URI hosts: LDH labels of 1-63
// octets, no leading/trailing hyphen (RFC 1123 §2.1), total at most 253 characters, at
// least `min_labels` labels, and not an IPv4 address in disguise (all-numeric last
// label). Returns the reason ("is empty", ...) or an empty string when valid.
std::string host_name_error(std::string_view host, size_t min_labels);
// True for text that is (or tries to be) an IP address rather than a host name.
bool looks_like_ip(std::string_view text);

// Domains: ASCII host names (A-labels), at least two labels; returns the lowercase form
// without a trailing dot, or throws PolicyError naming the domain and the reason.
std::string normalize_domain(std::string_view domain);

// RFC 8460 §3: a TLS-RPT rua URI is mailto:addr@host or https://host[...]. Empty = valid.
std::string tlsrpt_rua_error(std::string_view uri);
// "v=TLSRPTv1; rua=<uri>,<uri>" (empty string when `rua` is empty).
std::string tlsrpt_record(const std::vector<std::string>& rua);
// A vantage is "ADDR", "ADDR:PORT" or "[IPv6]:PORT". Empty = valid.
std::string vantage_error(std::string_view vantage);

}  // namespace stsd::store
