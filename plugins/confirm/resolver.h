#pragma once
// A small DNS client over ldns for what the confirmer needs to know about a domain the
// way senders see it: the addresses of mta-sts.<domain> (default vantages), the MX
// hosts, and the TXT records at _mta-sts.<domain> and _smtp._tls.<domain>.
// Every call blocks for at most about `timeout` × 2 attempts; the confirmer runs them
// on its own resolver threads, never on a DNS answering thread.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "vantage.h"

namespace stsd::confirm {

enum class LookupStatus : uint8_t {
  Ok,        // records of the asked type found
  NoData,    // the name exists without records of that type
  NxDomain,  // the name does not exist
  Failed,    // no usable answer (timeout, SERVFAIL, REFUSED, network error)
};

struct LookupBase {
  LookupStatus status = LookupStatus::Failed;
  std::string error;                     // plain words when Failed
  std::vector<std::string> cname_chain;  // CNAME targets followed, in order (no trailing dot)
  uint32_t ttl = 0;                      // smallest TTL of the answer RRset (0 when none)
  bool ok() const { return status == LookupStatus::Ok; }
  // "NXDOMAIN", "no records of that type", or the error; for messages.
  std::string describe(const std::string& name, const char* type) const;
};

struct AddressLookup : LookupBase {
  std::vector<boost::asio::ip::address> addresses;
};

struct MxRecord {
  uint16_t preference = 0;
  std::string host;  // lowercase, without the trailing dot; "" for a null MX (RFC 7505)
};
struct MxLookup : LookupBase {
  std::vector<MxRecord> records;  // sorted by preference, then host
  // RFC 7505: a single MX with exchange "." means the domain accepts no mail.
  bool null_mx() const { return records.size() == 1 && records.front().host.empty(); }
};

struct TxtRecord {
  std::string text;    // the character-strings joined with nothing between
  size_t strings = 0;  // how many character-strings the record has
};
struct TxtLookup : LookupBase {
  std::vector<TxtRecord> records;
};

class DnsClient {
 public:
  // `server`: the resolver to ask (ADDR:PORT); nullopt = /etc/resolv.conf.
  DnsClient(std::optional<Vantage> server, std::chrono::seconds timeout);

  // A and AAAA of `name` (two queries; Ok when either has records).
  AddressLookup addresses(const std::string& name) const;
  MxLookup mx(const std::string& domain) const;
  TxtLookup txt(const std::string& name) const;

  std::string server_text() const;  // "127.0.0.1:5353" or "the system resolver"

 private:
  std::optional<Vantage> server_;
  std::chrono::seconds timeout_;
};

}  // namespace stsd::confirm
