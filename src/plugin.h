#pragma once
// The plugin API: everything a plugin author needs.
//
// A server block (one entry of `servers:` in the YAML file) owns a chain of plugins.
// The chain's order is fixed at build time by plugins/CMakeLists.txt (STSD_PLUGIN_ORDER),
// never by the order of keys in the config. For each query the core decodes the packet
// into a dns::Request, begins a dns::ResponseWriter and calls the first plugin.
//
// Contract for Plugin::serve:
//  - To answer, call `query.response.start(rcode, authoritative)` and add records in
//    section order (answer, authority, additional). Do not call `next` after that.
//  - To pass, call `next(query)` (or simply return: a chain that nobody answers is
//    answered REFUSED by the core). A plugin may also call next and then look at or
//    adjust the response (that is how `log` measures and `errors` reports).
//  - serve runs on a worker thread, concurrently with other queries: read only
//    immutable state or state published with atomics; do not block, do no disk or
//    network I/O, avoid allocation. Errors are values; an exception that escapes is
//    answered SERVFAIL by the core (and reported by the `errors` plugin when enabled).
//  - The core adds OPT, applies the size limit and sets TC (ResponseWriter::finish).
//    A plugin that must see the final message (e.g. its size) may call
//    `query.response.finish()` itself; finish is idempotent.
//  - An answer of several messages (a zone transfer over TCP, RFC 5936 §2.2): write the
//    first into `response` and leave the rest in `*query.more` (non-null over TCP only).
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "dns/message.h"
#include "dns/writer.h"

namespace stsd {

// The messages after the first of a multi-message answer. The core calls next() on the
// connection's thread with a writer begun for the same request (same ID, the question
// echoed), sends the message it wrote (finishing it if next() did not), and repeats until
// next() returns false, having written nothing to send: the answer is complete. Messages
// leave in batches with async writes, so a slow client holds no worker; the stream is
// destroyed when the answer completes or the connection closes (the client went away,
// missed tcp_io_timeout, or the server shuts down). The stream must own what it reads
// (the request's `packet` is gone by then); an exception from next() closes the
// connection. A signed answer (TSIG) keeps room in each message before adding records
// (dns::tsig::ResponseSigner::reserve; begin() releases it) and signs it last (sign()).
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual bool next(dns::ResponseWriter& response) = 0;
};

struct Query {
  const dns::Request& request;
  dns::ResponseWriter& response;
  std::unique_ptr<ResponseStream>* more = nullptr;
  // The client showed it owns its source address: a valid server cookie (RFC 7873 §5.2.5,
  // set by the plugin that checks cookies). Rate limiting spares such clients (as Knot
  // does), since a spoofed source cannot carry one.
  bool address_proven = false;
};

class Chain;

// The rest of the chain after the current plugin. Cheap to copy; never allocates.
class Next {
 public:
  void operator()(Query& query) const;

 private:
  friend class Chain;
  Next(const Chain* chain, size_t index) : chain_(chain), index_(index) {}
  const Chain* chain_;
  size_t index_;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::string_view name() const = 0;
  virtual void serve(Query& query, Next next) const = 0;
};

class Chain {
 public:
  // `nsid`: the server block's identity, sent to clients that ask for it (RFC 5001);
  // empty: not sent.
  explicit Chain(std::vector<std::unique_ptr<Plugin>> plugins, std::vector<uint8_t> nsid = {})
      : plugins_(std::move(plugins)), nsid_(std::move(nsid)) {}
  // Runs the chain; an escaping exception becomes SERVFAIL. Finishes the response.
  void serve(Query& query) const;
  const std::vector<std::unique_ptr<Plugin>>& plugins() const { return plugins_; }
  const std::vector<uint8_t>& nsid() const { return nsid_; }

 private:
  friend class Next;
  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::vector<uint8_t> nsid_;
};

}  // namespace stsd
