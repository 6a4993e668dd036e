#pragma once
// A policy fetcher as strict as the strictest common sender (RFC 8461 §3.3):
//   https://mta-sts.<domain>/.well-known/mta-sts.txt, fetched from one vantage address
//   with SNI and Host mta-sts.<domain>; the certificate chain verified against the CA
//   bundle (or the system store) and the name mta-sts.<domain>; HTTP 200 only (redirects
//   are never followed); media type text/plain; at most 64 KiB; the whole exchange
//   within the timeout; ASCII unless the charset is utf-8.
// Every failure is described in plain words for `stsctl status`.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "utc_time.h"
#include "vantage.h"

namespace stsd::confirm {

// RFC 8461 §3.3: "senders SHOULD impose a limit of 64 KiB on the policy size".
inline constexpr size_t kMaxPolicyBytes = 64 * 1024;
inline constexpr std::string_view kPolicyPath = "/.well-known/mta-sts.txt";

enum class FetchError : uint8_t {
  None,
  Connect,  // TCP connection refused, unreachable...
  Timeout,  // no complete answer within the timeout
  Tls,      // TLS handshake failed for a reason other than the certificate
  CertExpired,
  CertNotYetValid,
  CertWrongName,  // not valid for mta-sts.<domain>
  CertUntrusted,  // chain does not lead to a trusted CA (unknown CA, self-signed...)
  CertInvalid,    // any other verification failure
  Redirect,       // 3xx: RFC 8461 §3.3 "senders MUST NOT follow HTTP redirects"
  HttpStatus,     // any other status than 200
  MediaType,      // not text/plain
  Oversize,       // more than 64 KiB
  Encoding,       // non-ASCII without charset=utf-8, or invalid UTF-8
  Protocol,       // malformed HTTP
};

// Stable machine name ("certificate-expired") for JSON and tests.
std::string_view fetch_error_name(FetchError error);

struct FetchResult {
  FetchError error = FetchError::None;
  std::string message;  // plain words when error != None
  std::string body;     // the policy text when error == None
  unsigned http_status = 0;
  // The leaf certificate, when the TLS handshake got far enough to see it.
  std::optional<std::chrono::system_clock::time_point> certificate_not_after;
  std::chrono::milliseconds elapsed{0};
  bool ok() const { return error == FetchError::None; }
};

struct FetchRequest {
  std::string domain;  // example.com (no trailing dot); the host is mta-sts.<domain>
  Vantage vantage;
  std::chrono::milliseconds timeout{4000};
};

// --- Pure classification steps (unit-tested without a network) ---

// The response head: 200 passes; 3xx is a redirect failure naming Location; other
// statuses fail; then the media type must be text/plain (parameters allowed).
FetchResult classify_head(unsigned status, std::string_view reason, std::string_view location,
                          std::string_view content_type, std::optional<uint64_t> content_length);

// The body: ASCII unless the Content-Type says charset=utf-8 (then valid UTF-8).
// On success returns a result with `body` moved in.
FetchResult classify_body(std::string body, std::string_view content_type);

// "text/plain; charset=UTF-8" -> media type "text/plain" and charset "utf-8", lowercased.
struct MediaType {
  std::string type;
  std::string charset;  // empty when absent
};
MediaType parse_media_type(std::string_view content_type);

// What the certificate verification saw (filled by the verify callback).
struct CertificateProblem {
  int x509_error = 0;  // X509_V_ERR_*
  int depth = 0;
  std::string subject;  // of the certificate that failed
  std::string issuer;
  std::string names;  // subjectAltName DNS names of the leaf, comma-separated
  std::optional<std::chrono::system_clock::time_point> not_before, not_after;
};
FetchResult classify_certificate(const CertificateProblem& problem, std::string_view host,
                                 std::chrono::system_clock::time_point now);

// "2 days", "3 hours", "45 seconds": the largest whole unit, for plain-word messages.
std::string describe_duration(std::chrono::seconds duration);
// Times in reports: format_utc() of utc_time.h.

// --- The network fetch ---

class PolicyFetcher {
 public:
  // Loads the trust store once; throws std::runtime_error naming the file on failure.
  explicit PolicyFetcher(const std::optional<std::filesystem::path>& ca_file);

  // Runs on the caller's executor; never throws for network or HTTP problems (they are
  // the result), and never takes longer than request.timeout.
  boost::asio::awaitable<FetchResult> fetch(FetchRequest request);

 private:
  boost::asio::ssl::context tls_;
};

}  // namespace stsd::confirm
