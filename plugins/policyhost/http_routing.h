#pragma once
// What the policy host answers, as a pure function of the request (no sockets), so that
// every rule below has a table test.
//
//  GET/HEAD /.well-known/mta-sts.txt, Host mta-sts.<domain>  → 200 with the domain's policy
//  other methods                                              → 405 with Allow: GET, HEAD
//  unknown path, host that is not mta-sts.<known domain>      → 404
//  a body on another method (never read)                     → 405, and the connection closes
//  (a body on GET or HEAD never gets here: the HTTP layer answers 400, request_framing.h)
//  Host missing (HTTP/1.1) or repeated                        → 400 (RFC 9112 §3.2)
//  Host naming another domain than the TLS SNI                → 421 (RFC 9110 §15.5.20)
// Never a redirect: senders do not follow them (RFC 8461 §3.3).
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stsd::policyhost {

inline constexpr std::string_view kPolicyPath = "/.well-known/mta-sts.txt";

// The rendered policy file (RFC 8461 §3.2) of `domain`'s newest staged version, or
// nullopt when the domain is unknown or has no version. `domain` is lower case without
// a trailing dot. Called on the policy host's threads, never on the DNS path.
using PolicyLookup = std::function<std::optional<std::string>(std::string_view domain)>;

struct HttpRequestView {
  std::string_view method;
  std::string_view target;
  unsigned version = 11;                 // 10 = HTTP/1.0, 11 = HTTP/1.1
  std::optional<std::string_view> host;  // the Host field, when present
  bool repeated_host = false;            // more than one Host field
  std::string_view sni;                  // TLS server name; empty when none
  bool has_body = false;                 // unread: the connection closes after the reply
  std::string_view if_none_match;        // empty when absent
};

struct RoutingSettings {
  std::chrono::seconds cache_max_age{60};
};

struct HttpReply {
  unsigned status = 500;
  // Every field to send, Content-Length included (for HEAD it is the length of the body
  // a GET would get, RFC 9110 §9.3.2). Connection is left to the caller.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool send_body = true;  // false for HEAD and 304
  bool close = false;     // the connection must close after this reply
  std::string host;       // the host the request named (lower case), for the access log
  std::string path;       // the path without query, for the access log

  const std::string* header(std::string_view name) const;
};

HttpReply route(const HttpRequestView& request, const PolicyLookup& lookup, const RoutingSettings& settings);

// A plain-text error reply (not cacheable) for answers decided before routing (400 for
// a malformed request, 431, 429, 500).
HttpReply error_reply(unsigned status, std::string_view message);

// "mta-sts.Example.COM:8443" → "example.com"; nullopt for any other host.
std::optional<std::string> policy_domain_of_host(std::string_view host);

// The strong entity tag of a policy body: a quoted SHA-256 prefix.
std::string entity_tag(std::string_view body);

// True when an If-None-Match value (RFC 9110 §13.1.2) matches `tag` (weak comparison).
bool if_none_match_matches(std::string_view if_none_match, std::string_view tag);

}  // namespace stsd::policyhost
