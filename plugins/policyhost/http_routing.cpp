#include "http_routing.h"

#include <openssl/evp.h>

#include <algorithm>

#include "cert_store.h"

namespace stsd::policyhost {
namespace {

constexpr std::string_view kPolicyHostPrefix = "mta-sts.";
constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// "name:port" → "name"; IPv6 literals ("[::1]:443") are not host names and stay whole.
std::string_view strip_port(std::string_view host) {
  if (host.starts_with('[')) return host;
  auto colon = host.rfind(':');
  if (colon == std::string_view::npos) return host;
  auto port = host.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return host;
  return host.substr(0, colon);
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

HttpReply error_reply(unsigned status, std::string_view message) {
  HttpReply reply;
  reply.status = status;
  reply.body = std::string(message) + "\n";
  reply.headers = {{"Content-Type", std::string(kTextPlain)},
                   // A 404 seen while a domain is being set up must not stick in a cache
                   // in front of us.
                   {"Cache-Control", "no-store"},
                   {"Content-Length", std::to_string(reply.body.size())}};
  return reply;
}

const std::string* HttpReply::header(std::string_view name) const {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (const auto& [key, value] : headers)
    if (std::equal(key.begin(), key.end(), name.begin(), name.end(),
                   [&](char a, char b) { return lower(a) == lower(b); }))
      return &value;
  return nullptr;
}

std::optional<std::string> policy_domain_of_host(std::string_view host) {
  auto name = normalize_host(strip_port(trim(host)));
  if (!name || !name->starts_with(kPolicyHostPrefix)) return std::nullopt;
  std::string domain = name->substr(kPolicyHostPrefix.size());
  if (domain.empty() || domain.find('*') != std::string::npos) return std::nullopt;
  return domain;
}

std::string entity_tag(std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(body.data(), body.size(), digest, &length, EVP_sha256(), nullptr) != 1) length = 0;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string tag = "\"";
  for (unsigned int i = 0; i < std::min(length, 16u); ++i) {
    tag.push_back(kHex[digest[i] >> 4]);
    tag.push_back(kHex[digest[i] & 0xf]);
  }
  tag.push_back('"');
  return tag;
}

bool if_none_match_matches(std::string_view if_none_match, std::string_view tag) {
  std::string_view rest = if_none_match;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (item == "*") return true;
    if (item.starts_with("W/")) item.remove_prefix(2);  // weak comparison
    if (item == tag) return true;
  }
  return false;
}

HttpReply route(const HttpRequestView& request, const PolicyLookup& lookup, const RoutingSettings& settings) {
  std::string_view target = request.target;
  std::optional<std::string_view> host = request.host;
  // RFC 9112 §3.2.2: a server must accept the absolute form, whose authority replaces Host.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (iequals_prefix(target, scheme)) {
      auto authority_end = target.find('/', scheme.size());
      host = target.substr(scheme.size(), authority_end == std::string_view::npos ? std::string_view::npos
                                                                                  : authority_end - scheme.size());
      target = authority_end == std::string_view::npos ? std::string_view("/") : target.substr(authority_end);
    }
  }
  std::string_view path = target.substr(0, target.find('?'));

  // RFC 9110 §9.3.2: a reply to HEAD never has a body, whatever its status.
  const bool head = request.method == "HEAD";
  auto finish = [&](HttpReply reply) {
    if (head) reply.send_body = false;
    if (host) reply.host = normalize_host(strip_port(trim(*host))).value_or(std::string(trim(*host)));
    reply.path = std::string(path);
    return reply;
  };

  // RFC 9110 §15.5.6: 405 names the methods the resource supports. The body, if any, was
  // never read, so the connection cannot be reused.
  if (request.method != "GET" && request.method != "HEAD") {
    HttpReply reply = error_reply(405, "method not allowed: the policy file supports GET and HEAD");
    reply.headers.emplace_back("Allow", "GET, HEAD");
    reply.close = request.has_body;
    return finish(std::move(reply));
  }
  // A GET or HEAD with a body never gets here: the HTTP layer refuses it with 400 and a
  // close (http/request_framing.h).
  if (request.repeated_host || (!host && request.version >= 11)) {
    HttpReply reply = error_reply(400, request.repeated_host ? "more than one Host field" : "missing Host field");
    reply.close = true;
    return finish(std::move(reply));
  }
  // HTTP/1.0 has no Host: the TLS server name is then the only name we have.
  if (!host && !request.sni.empty()) host = request.sni;

  auto not_found = [&](std::string_view why) { return finish(error_reply(404, why)); };
  if (path != kPolicyPath) return not_found("not found: only /.well-known/mta-sts.txt is served here");
  auto domain = host ? policy_domain_of_host(*host) : std::nullopt;
  if (!domain) return not_found("not found: the host must be mta-sts.<domain>");
  if (!request.sni.empty()) {
    auto sni = normalize_host(request.sni);
    if (!sni || *sni != std::string(kPolicyHostPrefix) + *domain) {
      return finish(error_reply(421, "misdirected request: Host does not match the TLS server name"));
    }
  }
  std::optional<std::string> policy = lookup ? lookup(*domain) : std::nullopt;
  if (!policy) return not_found("not found: no MTA-STS policy for this domain");

  HttpReply reply;
  std::string tag = entity_tag(*policy);
  // RFC 8461 §3.3: senders never send If-None-Match and do not cache over HTTP; both
  // only help browsers and caches in front of us.
  const bool not_modified = !request.if_none_match.empty() && if_none_match_matches(request.if_none_match, tag);
  reply.status = not_modified ? 304 : 200;
  reply.send_body = !head && !not_modified;
  // RFC 8461 §3.2: the policy is text/plain; the facts table: senders accept it with
  // an explicit utf-8 charset, and some decode as ASCII without one (the body is ASCII).
  if (!not_modified) reply.headers.emplace_back("Content-Type", std::string(kTextPlain));
  reply.headers.emplace_back("Cache-Control", "max-age=" + std::to_string(settings.cache_max_age.count()));
  reply.headers.emplace_back("ETag", std::move(tag));
  if (!not_modified) reply.headers.emplace_back("Content-Length", std::to_string(policy->size()));
  reply.body = not_modified ? std::string() : std::move(*policy);
  return finish(std::move(reply));
}

}  // namespace stsd::policyhost
