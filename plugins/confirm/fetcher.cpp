// The fetcher's checks of what a policy host answers (fetcher.h), without a network:
// status, media type, size, encoding, certificate problems, entity-tags and Keep-Alive.
#include "fetcher.h"

#include <charconv>

#include <openssl/x509_vfy.h>

namespace stsd::confirm {

using SystemTime = std::chrono::system_clock::time_point;

std::string_view fetch_error_name(FetchError error) {
  switch (error) {
    case FetchError::None:
      return "ok";
    case FetchError::Connect:
      return "connect";
    case FetchError::Timeout:
      return "timeout";
    case FetchError::Tls:
      return "tls";
    case FetchError::CertExpired:
      return "certificate-expired";
    case FetchError::CertNotYetValid:
      return "certificate-not-yet-valid";
    case FetchError::CertWrongName:
      return "certificate-wrong-name";
    case FetchError::CertUntrusted:
      return "certificate-untrusted";
    case FetchError::CertInvalid:
      return "certificate-invalid";
    case FetchError::Redirect:
      return "redirect";
    case FetchError::HttpStatus:
      return "http-status";
    case FetchError::MediaType:
      return "media-type";
    case FetchError::Oversize:
      return "oversize";
    case FetchError::Encoding:
      return "encoding";
    case FetchError::Protocol:
      return "protocol";
  }
  return "unknown";
}

namespace {

FetchResult failure(FetchError error, std::string message) {
  FetchResult result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string printable(std::string_view text, size_t limit = 120) {
  std::string out;
  for (char c : text.substr(0, limit)) {
    auto byte = static_cast<unsigned char>(c);
    out += (byte >= 0x20 && byte < 0x7f) ? c : '?';
  }
  if (text.size() > limit) out += "...";
  return out;
}

size_t line_of(std::string_view body, size_t offset) {
  size_t line = 1;
  for (size_t i = 0; i < offset && i < body.size(); ++i)
    if (body[i] == '\n') ++line;
  return line;
}

// Offset of the first byte that breaks UTF-8 (RFC 3629 §4), or npos.
size_t first_invalid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    uint32_t min = 0;
    if (byte < 0x80) {
      ++i;
      continue;
    }
    if ((byte & 0xE0) == 0xC0) {
      extra = 1;
      min = 0x80;
    } else if ((byte & 0xF0) == 0xE0) {
      extra = 2;
      min = 0x800;
    } else if ((byte & 0xF8) == 0xF0) {
      extra = 3;
      min = 0x10000;
    } else
      return i;
    if (i + extra >= text.size()) return i;  // truncated sequence
    uint32_t code = byte & (0x3F >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += extra + 1;
  }
  return std::string_view::npos;
}

}  // namespace

std::string describe_duration(std::chrono::seconds duration) {
  auto count = duration.count();
  if (count < 0) count = -count;
  auto unit = [](long long n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); };
  // Whole units read best ("1 day", not "24 hours"); otherwise round down only when the
  // unit is at least two, so that "90 seconds" does not become "1 minute".
  for (auto [size, word] : {std::pair<long long, const char*>{86400, "day"}, {3600, "hour"}, {60, "minute"}}) {
    if (count >= 2 * size || (count >= size && count % size == 0)) return unit(count / size, word);
  }
  return unit(count, "second");
}

MediaType parse_media_type(std::string_view content_type) {
  MediaType media;
  auto semicolon = content_type.find(';');
  media.type = lowercase(trim(content_type.substr(0, semicolon)));
  while (semicolon != std::string_view::npos) {
    content_type.remove_prefix(semicolon + 1);
    semicolon = content_type.find(';');
    auto parameter = trim(content_type.substr(0, semicolon));
    auto equals = parameter.find('=');
    if (equals == std::string_view::npos) continue;
    if (lowercase(trim(parameter.substr(0, equals))) != "charset") continue;
    auto value = trim(parameter.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    media.charset = lowercase(value);
  }
  return media;
}

FetchResult classify_head(unsigned status, std::string_view reason, std::string_view location,
                          std::string_view content_type, std::optional<uint64_t> content_length) {
  if (status == 304) {
    // RFC 9110 §15.4.5: only an answer to a conditional request; this one was not.
    auto result = failure(FetchError::HttpStatus,
                          "HTTP 304 Not Modified to a request without If-None-Match (senders accept only 200)");
    result.http_status = status;
    return result;
  }
  if (status >= 300 && status < 400) {
    // RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
    auto result =
        failure(FetchError::Redirect,
                location.empty() ? "redirect (HTTP " + std::to_string(status) + ") without a Location (not allowed)"
                                 : "redirect to " + printable(location, 200) + " (not allowed)");
    result.http_status = status;
    return result;
  }
  if (status != 200) {
    // RFC 8461 §3.3: only a 200 response carries a policy.
    std::string words = "HTTP " + std::to_string(status);
    if (!reason.empty()) words += " " + printable(reason, 60);
    auto result = failure(FetchError::HttpStatus, words + " (senders accept only 200)");
    result.http_status = status;
    return result;
  }
  auto media = parse_media_type(content_type);
  if (media.type != "text/plain") {
    // RFC 8461 §3.2: "the policy ... MUST have a media type of text/plain".
    auto result =
        failure(FetchError::MediaType, content_type.empty()
                                           ? std::string("no Content-Type (senders need text/plain)")
                                           : "media type " + printable(media.type, 80) + " (senders need text/plain)");
    result.http_status = status;
    return result;
  }
  if (content_length && *content_length > kMaxPolicyBytes) {
    auto result = failure(FetchError::Oversize, "policy file is " + std::to_string(*content_length) +
                                                    " bytes, more than the 64 KiB senders read");
    result.http_status = status;
    return result;
  }
  FetchResult result;
  result.http_status = status;
  return result;
}

bool is_entity_tag(std::string_view text) {
  if (text.starts_with("W/")) text.remove_prefix(2);
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return false;
  for (char c : text.substr(1, text.size() - 2)) {
    // etagc = %x21 / %x23-7E / obs-text
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte == '"' || byte == 0x7f) return false;
  }
  return true;
}

bool weakly_equal(std::string_view a, std::string_view b) {
  if (!is_entity_tag(a) || !is_entity_tag(b)) return false;
  if (a.starts_with("W/")) a.remove_prefix(2);
  if (b.starts_with("W/")) b.remove_prefix(2);
  return a == b;
}

FetchResult classify_not_modified(std::string_view sent, std::string_view received) {
  FetchResult result;
  const std::string asked = " (If-None-Match was " + printable(sent, 80) + ")";
  if (received.empty())
    result = failure(FetchError::HttpStatus,
                     "HTTP 304 Not Modified without an ETag, so it does not say which "
                     "version it still serves" +
                         asked);
  else if (!is_entity_tag(received))
    result = failure(FetchError::HttpStatus,
                     "HTTP 304 Not Modified with a malformed ETag " + printable(received, 80) + asked);
  else if (!weakly_equal(sent, received))
    result = failure(FetchError::HttpStatus, "HTTP 304 Not Modified for ETag " + printable(received, 80) +
                                                 ", another version than the one asked about" + asked);
  else {
    result.not_modified = true;
    result.etag = std::string(received);
  }
  result.http_status = 304;
  return result;
}

std::optional<std::chrono::seconds> keep_alive_timeout(std::string_view header) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto parameter = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    auto equals = parameter.find('=');
    if (equals == std::string_view::npos || lowercase(trim(parameter.substr(0, equals))) != "timeout") continue;
    auto value = trim(parameter.substr(equals + 1));
    long long seconds = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (error != std::errc{} || end != value.data() + value.size() || seconds < 0) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  return std::nullopt;
}

FetchResult classify_body(std::string body, std::string_view content_type) {
  if (body.size() > kMaxPolicyBytes)
    return failure(FetchError::Oversize, "policy file is more than the 64 KiB senders read");
  auto media = parse_media_type(content_type);
  size_t first_non_ascii = std::string_view::npos;
  for (size_t i = 0; i < body.size(); ++i)
    if (static_cast<unsigned char>(body[i]) >= 0x80) {
      first_non_ascii = i;
      break;
    }
  if (first_non_ascii != std::string_view::npos) {
    if (media.charset == "utf-8" || media.charset == "utf8") {
      auto bad = first_invalid_utf8(body);
      if (bad != std::string_view::npos)
        return failure(FetchError::Encoding, "policy file is not valid UTF-8 (line " +
                                                 std::to_string(line_of(body, bad)) +
                                                 ") although it says charset=utf-8");
    } else {
      // postfix-mta-sts-resolver decodes the body as ASCII unless a charset is given.
      std::string charset = media.charset.empty() ? "no charset" : "charset=" + printable(media.charset, 40);
      return failure(FetchError::Encoding, "policy file has non-ASCII bytes (line " +
                                               std::to_string(line_of(body, first_non_ascii)) + ") with " + charset +
                                               " (senders read it as ASCII unless charset=utf-8)");
    }
  }
  FetchResult result;
  result.http_status = 200;
  result.body = std::move(body);
  return result;
}

FetchResult classify_certificate(const CertificateProblem& problem, std::string_view host, SystemTime now) {
  const std::string subject = problem.depth == 0
                                  ? "certificate for " + std::string(host)
                                  : "CA certificate " + problem.subject + " in the chain for " + std::string(host);
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  switch (problem.x509_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CRL_HAS_EXPIRED: {
      std::string words = subject + " expired";
      if (problem.not_after)
        words += " " + describe_duration(duration_cast<seconds>(now - *problem.not_after)) + " ago (on " +
                 format_utc(*problem.not_after) + ")";
      return failure(FetchError::CertExpired, words);
    }
    case X509_V_ERR_CERT_NOT_YET_VALID: {
      std::string words = subject + " is not valid yet";
      if (problem.not_before)
        words += " (valid from " + format_utc(*problem.not_before) + ", in " +
                 describe_duration(duration_cast<seconds>(*problem.not_before - now)) + ")";
      return failure(FetchError::CertNotYetValid, words);
    }
    case X509_V_ERR_HOSTNAME_MISMATCH:
      return failure(FetchError::CertWrongName, "certificate is not valid for " + std::string(host) +
                                                    (problem.names.empty() ? std::string(" (it names no DNS host)")
                                                                           : " (it is for " + problem.names + ")"));
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return failure(FetchError::CertUntrusted,
                     "certificate for " + std::string(host) + " is not signed by a trusted CA (issuer: " +
                         (problem.issuer.empty() ? std::string("unknown") : problem.issuer) + ")");
    default:
      return failure(FetchError::CertInvalid,
                     subject + " failed verification: " + X509_verify_cert_error_string(problem.x509_error));
  }
}

}  // namespace stsd::confirm
