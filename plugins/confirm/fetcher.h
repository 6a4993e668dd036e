#pragma once
// A policy fetcher as strict as the strictest common sender (RFC 8461 §3.3):
//   https://mta-sts.<domain>/.well-known/mta-sts.txt, fetched from one vantage address
//   with SNI and Host mta-sts.<domain>; the certificate chain verified against the CA
//   bundle (or the system store) and the name mta-sts.<domain>; HTTP 200 only (redirects
//   are never followed); media type text/plain; at most 64 KiB; the whole exchange
//   within the timeout; ASCII unless the charset is utf-8.
// Every failure is described in plain words for `stsctl status`.
//
// Conditional requests (RFC 9110 §13.1.2). FetchRequest::if_none_match carries an ETag
// that the caller recorded together with a body whose digest it checked: the `etag` of
// an earlier 200 FetchResult of the same vantage and domain. The answer is then either
// a 200 as above (with its own `etag`), or a 304 Not Modified naming a weakly equal
// entity-tag (RFC 9110 §8.8.3.2, the comparison If-None-Match uses): ok() with
// `not_modified`, no body, `etag` echoed; the vantage still serves the body recorded
// with that tag. A 304 to an unconditional request, or one naming another (or no) tag,
// is an HttpStatus failure. Senders never send If-None-Match; a 304 only saves the body.
//
// Keep-alive. After a successful exchange the TLS connection stays open, idle, for the
// next fetch of the same vantage address, port and host (never for another host: SNI
// may route), for at most ConnectionReuse::max_idle_time and never past the server's
// `Keep-Alive: timeout` (less a second) nor the certificates' expiry. At most
// max_idle_connections idle connections are kept per event loop (least recently used
// leave first). A kept connection the server has closed in the meantime is replaced by
// a fresh one within the same timeout, which is not a failure. Each new connection is
// verified in full; a reused one was verified for the same host by the same fetcher.
//
// The checks are in fetcher.cpp, the connections and the exchange in fetcher_network.cpp,
// the set of idle connections in idle_pool.h.
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
  // A 200: its ETag when it is a valid entity-tag (else empty), to record with the body's
  // digest. A 304 that is ok(): the entity-tag it names.
  std::string etag;
  // A 304 Not Modified to If-None-Match with a weakly equal entity-tag: the vantage still
  // serves the body recorded with `etag`. ok() is true, `body` is empty, http_status 304.
  bool not_modified = false;
  // The answer came over a kept-alive connection (verified when it was opened).
  bool reused_connection = false;
  bool ok() const { return error == FetchError::None; }
};

struct FetchRequest {
  std::string domain;  // example.com (no trailing dot); the host is mta-sts.<domain>
  Vantage vantage;
  std::chrono::milliseconds timeout{4000};
  // Empty: a plain GET, as senders send. Else an entity-tag (a FetchResult::etag recorded
  // with a checked body) sent as If-None-Match; fetch() throws std::invalid_argument when
  // it is not a valid entity-tag.
  std::string if_none_match{};  // {}: initializers naming only the first fields stay warning-free
};

// --- Pure classification steps (unit-tested without a network) ---

// The response head: 200 passes; 3xx is a redirect failure naming Location (304 is a
// failure of its own: the request was not conditional); other statuses fail; then the
// media type must be text/plain (parameters allowed).
FetchResult classify_head(unsigned status, std::string_view reason, std::string_view location,
                          std::string_view content_type, std::optional<uint64_t> content_length);

// A 304 Not Modified to a request that sent If-None-Match: `sent`: not_modified when the
// ETag it names (`received`) is weakly equal to `sent`, else a failure naming both.
// (A 304 to an unconditional request is classify_head's failure.)
FetchResult classify_not_modified(std::string_view sent, std::string_view received);

// RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE.
bool is_entity_tag(std::string_view text);
// RFC 9110 §8.8.3.2: the same opaque-tag, either or both may be weak.
bool weakly_equal(std::string_view a, std::string_view b);

// The `timeout` parameter of a Keep-Alive header ("timeout=5, max=100"), if any (RFC
// 2068 §19.7.1.1; servers still send it).
std::optional<std::chrono::seconds> keep_alive_timeout(std::string_view header);

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

// How long connections stay open for the next fetch (see the top of this file).
struct ConnectionReuse {
  size_t max_idle_connections = 256;  // per event loop; 0: every fetch sends Connection: close
  std::chrono::seconds max_idle_time{90};
};

class PolicyFetcher {
 public:
  // Loads the trust store once; throws std::runtime_error naming the file on failure.
  explicit PolicyFetcher(const std::optional<std::filesystem::path>& ca_file, ConnectionReuse reuse = {});

  // Runs on the caller's executor; never throws for network or HTTP problems (they are
  // the result), and never takes longer than request.timeout. Fetches may run
  // concurrently on one event loop, or on several (each has its own idle connections).
  boost::asio::awaitable<FetchResult> fetch(FetchRequest request);

 private:
  boost::asio::ssl::context tls_;
  ConnectionReuse reuse_;
  uint64_t identity_;  // keeps idle connections from being shared with another trust store
};

}  // namespace stsd::confirm
