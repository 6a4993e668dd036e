// The policy fetcher's network side (fetcher.h): a TLS connection per vantage and host,
// verified in full when it is opened and kept idle for the next fetch of the same key,
// and one exchange over it (a GET, or a conditional GET) judged by fetcher.cpp's checks.
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <stdexcept>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

#include "fetcher.h"
#include "http/client.h"
#include "http/message.h"
#include "idle_pool.h"

namespace stsd::confirm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using SystemTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;
using boost::system::error_code;

namespace {

std::atomic<uint64_t> next_fetcher_identity{1};

FetchResult failure(FetchError error, std::string message) {
  FetchResult result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

// --- What the certificate verification saw ---

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
      names += http::printable(std::string_view(reinterpret_cast<const char*>(text),
                                                static_cast<size_t>(ASN1_STRING_length(name->d.dNSName))),
                               120);
    }
    GENERAL_NAMES_free(general);
  }
  return names;
}

struct VerifyRecord {
  std::optional<CertificateProblem> problem;
  std::optional<SystemTime> leaf_not_after;
  std::optional<SystemTime> chain_not_after;  // the earliest notAfter of the chain
};

bool record_verification(VerifyRecord& record, bool preverified, asio::ssl::verify_context& context) {
  X509_STORE_CTX* store = context.native_handle();
  X509* certificate = X509_STORE_CTX_get_current_cert(store);
  const int depth = X509_STORE_CTX_get_error_depth(store);
  if (certificate) {
    auto not_after = asn1_to_time(X509_get0_notAfter(certificate));
    if (depth == 0) record.leaf_not_after = not_after;
    if (not_after && (!record.chain_not_after || *not_after < *record.chain_not_after))
      record.chain_not_after = not_after;
  }
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

// --- Connections and the idle ones ---

// A connection to one vantage for one host, with what its handshake verified. It stays
// at one address: the verify callback refers to its record.
struct PolicyConnection {
  PolicyConnection(asio::any_io_executor executor, asio::ssl::context& tls) : http(std::move(executor), &tls) {
    http.set_verify_callback([this](bool preverified, asio::ssl::verify_context& context) {
      return record_verification(verify, preverified, context);
    });
  }
  PolicyConnection(const PolicyConnection&) = delete;
  PolicyConnection& operator=(const PolicyConnection&) = delete;

  http::ClientConnection http;
  VerifyRecord verify;
};

// The idle connections of one event loop, as a service of it: services shut down newest
// first, and this one is added only once a connection exists, so the idle sockets close
// while the loop's reactor is still there, even when the fetcher outlives the loop.
class IdleConnections : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  explicit IdleConnections(asio::execution_context& context) : service(context) {}
  IdlePool<PolicyConnection> pool{0};

 private:
  void shutdown() override { pool.clear(); }
};

asio::execution_context& context_of(const asio::any_io_executor& executor) {
  return asio::query(executor, asio::execution::context);
}

// --- One exchange ---

// One fetch: what it asks, of whom, and until when.
struct Exchange {
  Exchange(const FetchRequest& request, uint64_t fetcher_identity)
      : request(request),
        host("mta-sts." + request.domain),
        key(std::to_string(fetcher_identity) + " " + request.vantage.to_string() + " " + host),
        started(std::chrono::steady_clock::now()),
        deadline(started + request.timeout) {}

  FetchResult finish(FetchResult result) const {
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return result;
  }
  FetchResult timed_out(std::string_view phase) const {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(request.timeout).count();
    return failure(FetchError::Timeout, "no complete answer within " + std::to_string(seconds) + " s (timed out " +
                                            std::string(phase) + ")");
  }
  bool is_timeout(const error_code& ec) const {
    return ec == beast::error::timeout || std::chrono::steady_clock::now() >= deadline;
  }

  const FetchRequest& request;
  const std::string host;
  const std::string key;  // of its idle connection: fetcher, vantage address and port, host
  const SteadyTime started;
  const SteadyTime deadline;  // one for the whole exchange: senders do not restart their clock per step
};

struct Answer {
  FetchResult result;
  // The peer closed the connection before answering at all (what a kept connection
  // whose server gave up on it meanwhile does).
  bool closed_before_answer = false;
  // Set when the connection may carry the next request: for how long.
  std::optional<std::chrono::seconds> keep_for;
};

bool closed_by_peer(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::connection_aborted || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated;
}

std::string_view view(boost::beast::string_view text) { return {text.data(), text.size()}; }

// Connects from the vantage address, with SNI and the certificate checked for
// mta-sts.<domain> (RFC 8461 §3.3, RFC 6125). nullopt on success.
asio::awaitable<std::optional<FetchResult>> open(PolicyConnection& connection, const Exchange& exchange) {
  http::ClientTarget target;
  target.host = exchange.host;
  target.port = exchange.request.vantage.port;
  target.pinned_address = exchange.request.vantage.address;
  target.tls_server_name = exchange.host;
  auto connecting = connection.http.connect(target);
  auto failed = co_await std::move(connecting);
  if (!failed) co_return std::nullopt;
  const auto& ec = failed->error;
  if (failed->step != http::ClientConnection::Step::Handshake) {
    if (exchange.is_timeout(ec)) co_return exchange.timed_out("while connecting");
    co_return failure(FetchError::Connect, "cannot connect: " + ec.message());
  }
  FetchResult result;
  if (connection.verify.problem)
    result = classify_certificate(*connection.verify.problem, exchange.host, std::chrono::system_clock::now());
  else if (exchange.is_timeout(ec))
    result = exchange.timed_out("during the TLS handshake");
  else
    result = failure(FetchError::Tls, "TLS handshake for " + exchange.host + " failed: " + ec.message());
  result.certificate_not_after = connection.verify.leaf_not_after;
  co_return result;
}

http::ClientConnection::Request policy_request(const Exchange& exchange, bool keep_alive) {
  http::ClientConnection::Request get{bhttp::verb::get, std::string(kPolicyPath), 11};
  get.set(bhttp::field::host, exchange.host);
  get.set(bhttp::field::user_agent, "stsd-confirm/" STSD_VERSION);
  get.set(bhttp::field::accept, "text/plain");
  if (!exchange.request.if_none_match.empty()) get.set(bhttp::field::if_none_match, exchange.request.if_none_match);
  if (!keep_alive) get.set(bhttp::field::connection, "close");
  return get;
}

// How long an answered connection may wait for the next request: our limit, and a
// second less than the server's own (so that we do not send as it closes).
std::optional<std::chrono::seconds> idle_lifetime(const ConnectionReuse& reuse,
                                                  const http::ClientConnection::ResponseParser& parser) {
  // A body that ends with the connection (no length, not chunked) leaves nothing to reuse.
  if (!parser.get().keep_alive() || parser.need_eof()) return std::nullopt;
  auto lifetime = reuse.max_idle_time;
  if (auto server = keep_alive_timeout(view(parser.get()[bhttp::field::keep_alive])))
    lifetime = std::min(lifetime, *server - std::chrono::seconds(1));
  if (lifetime <= std::chrono::seconds(0)) return std::nullopt;
  return lifetime;
}

// The request and its answer, judged strictly; the head first, so that a failing
// status is named without reading its (perhaps large) body.
asio::awaitable<Answer> ask(PolicyConnection& connection, const Exchange& exchange, const ConnectionReuse& reuse) {
  Answer answer;
  auto get = policy_request(exchange, reuse.max_idle_connections > 0);
  if (auto ec = co_await connection.http.write(get)) {
    answer.closed_before_answer = closed_by_peer(ec);
    answer.result = exchange.is_timeout(ec)
                        ? exchange.timed_out("while sending the request")
                        : failure(FetchError::Protocol, "sending the request failed: " + ec.message());
    co_return answer;
  }

  http::ClientConnection::ResponseParser parser;
  if (auto ec = co_await connection.http.read_header(parser)) {
    answer.closed_before_answer = !parser.got_some() && closed_by_peer(ec);
    answer.result = exchange.is_timeout(ec) ? exchange.timed_out("waiting for the response")
                                            : failure(FetchError::Protocol, "no valid HTTP response: " + ec.message());
    co_return answer;
  }
  const auto& head = parser.get();
  const std::string etag(view(head[bhttp::field::etag]));
  const std::string content_type(view(head[bhttp::field::content_type]));
  auto& result = answer.result;
  if (head.result_int() == 304 && !exchange.request.if_none_match.empty()) {
    result = classify_not_modified(exchange.request.if_none_match, etag);
  } else {
    std::optional<uint64_t> content_length;
    if (parser.content_length()) content_length = *parser.content_length();
    result = classify_head(head.result_int(), view(head.reason()), view(head[bhttp::field::location]), content_type,
                           content_length);
    if (result.ok()) {
      const auto ec = co_await connection.http.read_body(parser, kMaxPolicyBytes);
      if (ec == bhttp::error::body_limit)
        result = failure(FetchError::Oversize, "policy file is more than the 64 KiB senders read");
      else if (ec)
        result = exchange.is_timeout(ec)
                     ? exchange.timed_out("while reading the policy file")
                     : failure(FetchError::Protocol, "reading the policy file failed: " + ec.message());
      else
        result = classify_body(std::move(parser.get().body()), content_type);
      if (result.ok() && is_entity_tag(etag)) result.etag = etag;
    }
  }
  result.certificate_not_after = connection.verify.leaf_not_after;
  if (result.ok() && parser.is_done()) answer.keep_for = idle_lifetime(reuse, parser);
  co_return answer;
}

// The idle connection of `key`, when there is one that can still carry a request.
std::unique_ptr<PolicyConnection> take_idle(const asio::any_io_executor& executor, const std::string& key) {
  auto& context = context_of(executor);
  if (!asio::has_service<IdleConnections>(context)) return nullptr;
  auto connection = asio::use_service<IdleConnections>(context).pool.take(key, std::chrono::steady_clock::now());
  if (!connection || !connection->http.is_idle()) return nullptr;
  // What was verified then must still hold now: no certificate of the chain has expired.
  const auto& valid_until = connection->verify.chain_not_after;
  if (!valid_until || std::chrono::system_clock::now() >= *valid_until) return nullptr;
  return connection;
}

void keep_idle(const asio::any_io_executor& executor, const std::string& key,
               std::unique_ptr<PolicyConnection> connection, std::chrono::seconds lifetime,
               const ConnectionReuse& reuse) {
  auto& idle = asio::use_service<IdleConnections>(context_of(executor));
  idle.pool.set_capacity(reuse.max_idle_connections);
  const auto now = std::chrono::steady_clock::now();
  idle.pool.park(key, std::move(connection), now + lifetime, now);
}

}  // namespace

PolicyFetcher::PolicyFetcher(const std::optional<std::filesystem::path>& ca_file, ConnectionReuse reuse)
    : tls_(http::make_client_tls_context(ca_file)), reuse_(reuse), identity_(next_fetcher_identity++) {}

asio::awaitable<FetchResult> PolicyFetcher::fetch(FetchRequest request) {
  if (!request.if_none_match.empty() && !is_entity_tag(request.if_none_match))
    throw std::invalid_argument("If-None-Match for mta-sts." + request.domain +
                                " is not an entity-tag: " + http::printable(request.if_none_match, 80));
  const Exchange exchange(request, identity_);
  const auto executor = co_await asio::this_coro::executor;

  if (auto kept = take_idle(executor, exchange.key)) {
    kept->http.expires_at(exchange.deadline);
    auto asking = ask(*kept, exchange, reuse_);
    Answer answer = co_await std::move(asking);
    if (!answer.closed_before_answer) {
      answer.result.reused_connection = true;
      if (answer.keep_for) keep_idle(executor, exchange.key, std::move(kept), *answer.keep_for, reuse_);
      co_return exchange.finish(std::move(answer.result));
    }
    // The server closed the kept connection before answering (its keep-alive ran out
    // meanwhile): not the policy host's failure, so once more on a fresh connection,
    // within the same deadline.
  }

  auto connection = std::make_unique<PolicyConnection>(executor, tls_);
  connection->http.expires_at(exchange.deadline);
  auto opening = open(*connection, exchange);
  if (auto failed = co_await std::move(opening)) co_return exchange.finish(std::move(*failed));
  auto asking = ask(*connection, exchange, reuse_);
  Answer answer = co_await std::move(asking);
  if (answer.keep_for)
    keep_idle(executor, exchange.key, std::move(connection), *answer.keep_for, reuse_);
  else
    connection->http.close();
  co_return exchange.finish(std::move(answer.result));
}

}  // namespace stsd::confirm
