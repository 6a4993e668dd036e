#include "fetcher.h"

#include <ctime>
#include <limits>
#include <memory>
#include <stdexcept>

#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http/client.h"

namespace stsd::confirm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
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

std::optional<SystemTime> asn1_to_time(const ASN1_TIME* time) {
  if (!time) return std::nullopt;
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  return utc_time_point(tm);
}

std::string x509_name_text(const X509_NAME* name) {
  if (!name) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio) return "";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string dns_names(X509* certificate) {
  std::string names;
  auto* general = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (general) {
    for (int i = 0; i < sk_GENERAL_NAME_num(general); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(general, i);
      if (name->type != GEN_DNS) continue;
      const auto* text = ASN1_STRING_get0_data(name->d.dNSName);
      if (!names.empty()) names += ", ";
      names += printable(std::string_view(reinterpret_cast<const char*>(text),
                                          static_cast<size_t>(ASN1_STRING_length(name->d.dNSName))));
    }
    GENERAL_NAMES_free(general);
  }
  return names;
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

PolicyFetcher::PolicyFetcher(const std::optional<std::filesystem::path>& ca_file)
    : tls_(http::make_client_tls_context(ca_file)) {}

namespace {

struct VerifyRecord {
  std::optional<CertificateProblem> problem;
  std::optional<SystemTime> leaf_not_after;
};

bool record_verification(VerifyRecord& record, bool preverified, asio::ssl::verify_context& context) {
  X509_STORE_CTX* store = context.native_handle();
  X509* certificate = X509_STORE_CTX_get_current_cert(store);
  const int depth = X509_STORE_CTX_get_error_depth(store);
  if (certificate && depth == 0) record.leaf_not_after = asn1_to_time(X509_get0_notAfter(certificate));
  if (!preverified && !record.problem) {
    CertificateProblem problem;
    problem.x509_error = X509_STORE_CTX_get_error(store);
    problem.depth = depth;
    if (certificate) {
      problem.subject = x509_name_text(X509_get_subject_name(certificate));
      problem.issuer = x509_name_text(X509_get_issuer_name(certificate));
      problem.not_before = asn1_to_time(X509_get0_notBefore(certificate));
      problem.not_after = asn1_to_time(X509_get0_notAfter(certificate));
      // The leaf's names explain a name mismatch; the chain may be reported at depth > 0.
      if (X509* leaf = sk_X509_value(X509_STORE_CTX_get0_chain(store), 0))
        problem.names = dns_names(leaf);
      else
        problem.names = dns_names(certificate);
    }
    record.problem = std::move(problem);
  }
  return preverified;
}

bool is_timeout(const boost::system::error_code& ec, std::chrono::steady_clock::time_point deadline) {
  return ec == beast::error::timeout || std::chrono::steady_clock::now() >= deadline;
}

}  // namespace

asio::awaitable<FetchResult> PolicyFetcher::fetch(FetchRequest request) {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + request.timeout;
  const std::string host = "mta-sts." + request.domain;
  const std::string timeout_words =
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(request.timeout).count()) + " s";

  auto finish = [&](FetchResult result) {
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return result;
  };
  auto timed_out = [&](std::string_view phase) {
    return finish(failure(FetchError::Timeout,
                          "no complete answer within " + timeout_words + " (timed out " + std::string(phase) + ")"));
  };

  http::ClientConnection connection(co_await asio::this_coro::executor, &tls_, 16 * 1024);
  // One deadline for the whole exchange: every step below fails with
  // beast::error::timeout once it passes (senders do not restart their clock per step).
  connection.expires_at(deadline);
  VerifyRecord verify;
  connection.set_verify_callback([&verify](bool preverified, asio::ssl::verify_context& context) {
    return record_verification(verify, preverified, context);
  });
  // From the vantage address, with SNI and the certificate checked for mta-sts.<domain>
  // (RFC 8461 §3.3, RFC 6125).
  http::ClientTarget target;
  target.host = host;
  target.port = request.vantage.port;
  target.pinned_address = request.vantage.address;
  target.tls_server_name = host;
  if (auto failed = co_await connection.connect(target)) {
    const auto& ec = failed->error;
    if (failed->step != http::ClientConnection::Step::Handshake) {
      if (is_timeout(ec, deadline)) co_return timed_out("while connecting");
      co_return finish(failure(FetchError::Connect, "cannot connect: " + ec.message()));
    }
    FetchResult result;
    if (verify.problem)
      result = classify_certificate(*verify.problem, host, std::chrono::system_clock::now());
    else if (is_timeout(ec, deadline))
      co_return timed_out("during the TLS handshake");
    else
      result = failure(FetchError::Tls, "TLS handshake for " + host + " failed: " + ec.message());
    result.certificate_not_after = verify.leaf_not_after;
    co_return finish(std::move(result));
  }

  http::ClientConnection::Request get{bhttp::verb::get, std::string(kPolicyPath), 11};
  get.set(bhttp::field::host, host);
  get.set(bhttp::field::user_agent, "stsd-confirm/" STSD_VERSION);
  get.set(bhttp::field::accept, "text/plain");
  get.set(bhttp::field::connection, "close");
  if (auto ec = co_await connection.write(get)) {
    if (is_timeout(ec, deadline)) co_return timed_out("while sending the request");
    co_return finish(failure(FetchError::Protocol, "sending the request failed: " + ec.message()));
  }

  // The size is judged after the status (a 404 may be large).
  http::ClientConnection::ResponseParser parser;
  if (auto ec = co_await connection.read_header(parser)) {
    if (is_timeout(ec, deadline)) co_return timed_out("waiting for the response");
    co_return finish(failure(FetchError::Protocol, "no valid HTTP response: " + ec.message()));
  }
  const auto& head = parser.get();
  std::optional<uint64_t> content_length;
  if (parser.content_length()) content_length = *parser.content_length();
  auto view = [](boost::beast::string_view text) { return std::string_view(text.data(), text.size()); };
  auto result = classify_head(head.result_int(), view(head.reason()), view(head[bhttp::field::location]),
                              view(head[bhttp::field::content_type]), content_length);
  result.certificate_not_after = verify.leaf_not_after;
  if (!result.ok()) co_return finish(std::move(result));

  const auto ec = co_await connection.read_body(parser, kMaxPolicyBytes);
  if (ec == bhttp::error::body_limit) {
    result = failure(FetchError::Oversize, "policy file is more than the 64 KiB senders read");
  } else if (ec) {
    if (is_timeout(ec, deadline)) co_return timed_out("while reading the policy file");
    result = failure(FetchError::Protocol, "reading the policy file failed: " + ec.message());
  } else {
    const std::string content_type(parser.get()[bhttp::field::content_type]);
    result = classify_body(std::move(parser.get().body()), content_type);
  }
  result.certificate_not_after = verify.leaf_not_after;
  connection.close();
  co_return finish(std::move(result));
}

}  // namespace stsd::confirm
