#include "resolver.h"

#include <algorithm>
#include <memory>

#include <ldns/ldns.h>

namespace stsd::confirm {

namespace {

using ResolverPtr = std::unique_ptr<ldns_resolver, decltype(&ldns_resolver_deep_free)>;
using PacketPtr = std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)>;
using RdfPtr = std::unique_ptr<ldns_rdf, decltype(&ldns_rdf_deep_free)>;

struct CStringDeleter {
  void operator()(char* text) const { free(text); }
};
using CStringPtr = std::unique_ptr<char, CStringDeleter>;

// Presentation form of a name, lowercase, without the trailing dot.
std::string name_text(const ldns_rdf* rdf) {
  CStringPtr text(ldns_rdf2str(rdf));
  if (!text) return "";
  std::string out(text.get());
  if (out.size() > 1 && out.back() == '.') out.pop_back();
  if (out == ".") out.clear();
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The RRs of one answer, after following the CNAME chain from `qname` (RFC 1034 §3.6.2).
struct Answer {
  LookupStatus status = LookupStatus::Failed;
  std::string error;
  std::vector<std::string> cname_chain;
  std::vector<const ldns_rr*> records;
  uint32_t ttl = 0;
  PacketPtr packet{nullptr, &ldns_pkt_free};
};

constexpr int kMaxCnameHops = 8;

Answer query(const std::optional<Vantage>& server, std::chrono::seconds timeout, std::string name, ldns_rr_type type) {
  Answer answer;
  ldns_resolver* raw = nullptr;
  if (server) {
    raw = ldns_resolver_new();
  } else if (ldns_resolver_new_frm_file(&raw, nullptr) != LDNS_STATUS_OK) {
    raw = nullptr;
  }
  ResolverPtr resolver(raw, &ldns_resolver_deep_free);
  if (!resolver) {
    answer.error = "cannot set up the DNS resolver (no usable /etc/resolv.conf?)";
    return answer;
  }
  if (server) {
    const bool v6 = server->address.is_v6();
    RdfPtr address(ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, server->address.to_string().c_str()),
                   &ldns_rdf_deep_free);
    if (!address || ldns_resolver_push_nameserver(resolver.get(), address.get()) != LDNS_STATUS_OK) {
      answer.error = "cannot use resolver address " + server->to_string();
      return answer;
    }
    ldns_resolver_set_port(resolver.get(), server->port);
  }
  ldns_resolver_set_recursive(resolver.get(), true);  // RD: the configured server may be a recursor
  ldns_resolver_set_defnames(resolver.get(), false);  // names are absolute; no search list
  ldns_resolver_set_dnsrch(resolver.get(), false);
  ldns_resolver_set_fallback(resolver.get(), true);  // TC=1 -> retry over TCP
  ldns_resolver_set_retry(resolver.get(), 2);
  timeval limit{static_cast<time_t>(timeout.count()), 0};
  ldns_resolver_set_timeout(resolver.get(), limit);

  std::string current = name;
  for (int hop = 0; hop <= kMaxCnameHops; ++hop) {
    RdfPtr qname(ldns_dname_new_frm_str((current + ".").c_str()), &ldns_rdf_deep_free);
    if (!qname) {
      answer.error = "'" + current + "' is not a valid DNS name";
      return answer;
    }
    ldns_pkt* raw_packet = nullptr;
    ldns_status status =
        ldns_resolver_query_status(&raw_packet, resolver.get(), qname.get(), type, LDNS_RR_CLASS_IN, LDNS_RD);
    PacketPtr packet(raw_packet, &ldns_pkt_free);
    if (status != LDNS_STATUS_OK || !packet) {
      answer.error = std::string("no answer from ") + (server ? server->to_string() : "the system resolver") + ": " +
                     ldns_get_errorstr_by_id(status);
      answer.status = LookupStatus::Failed;
      return answer;
    }
    const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(packet.get());
    if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
      CStringPtr rcode_text(ldns_pkt_rcode2str(rcode));
      answer.error = "the resolver answered " + std::string(rcode_text ? rcode_text.get() : "an error");
      answer.status = LookupStatus::Failed;
      return answer;
    }
    // Walk the answer: follow CNAMEs from `current`, collect records of `type` at the end.
    const ldns_rr_list* rrs = ldns_pkt_answer(packet.get());
    const size_t chain_before = answer.cname_chain.size();
    bool followed = true;
    while (followed) {
      followed = false;
      for (size_t i = 0; rrs && i < ldns_rr_list_rr_count(rrs); ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME || type == LDNS_RR_TYPE_CNAME) continue;
        if (name_text(ldns_rr_owner(rr)) != current || ldns_rr_rd_count(rr) < 1) continue;
        current = name_text(ldns_rr_rdf(rr, 0));
        answer.cname_chain.push_back(current);
        if (answer.cname_chain.size() > kMaxCnameHops) {
          answer.error = "CNAME chain from " + name + " is longer than " + std::to_string(kMaxCnameHops);
          return answer;
        }
        followed = true;
        break;
      }
    }
    answer.records.clear();
    uint32_t ttl = UINT32_MAX;
    for (size_t i = 0; rrs && i < ldns_rr_list_rr_count(rrs); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
      if (ldns_rr_get_type(rr) != type || name_text(ldns_rr_owner(rr)) != current) continue;
      answer.records.push_back(rr);
      ttl = std::min(ttl, ldns_rr_ttl(rr));
    }
    if (!answer.records.empty()) {
      answer.status = LookupStatus::Ok;
      answer.ttl = ttl;
      answer.packet = std::move(packet);
      return answer;
    }
    if (rcode == LDNS_RCODE_NXDOMAIN) {  // RFC 6604: the rcode is about the last target
      answer.status = LookupStatus::NxDomain;
      return answer;
    }
    // The answer ended in a CNAME whose target it does not resolve (an authoritative
    // server answers only for its own zone, as a sender's recursor would not): ask for
    // the target itself.
    if (answer.cname_chain.size() > chain_before) continue;
    answer.status = LookupStatus::NoData;
    return answer;
  }
  answer.error = "CNAME chain from " + name + " is too long";
  return answer;
}

template <class Lookup>
void copy_base(Lookup& lookup, const Answer& answer) {
  lookup.status = answer.status;
  lookup.error = answer.error;
  lookup.cname_chain = answer.cname_chain;
  lookup.ttl = answer.ttl;
}

}  // namespace

std::string LookupBase::describe(const std::string& name, const char* type) const {
  switch (status) {
    case LookupStatus::Ok:
      return name + " has " + type + " records";
    case LookupStatus::NoData:
      return name + " has no " + type + " records";
    case LookupStatus::NxDomain:
      return name + " does not exist (NXDOMAIN)";
    case LookupStatus::Failed:
      return "cannot resolve " + name + " " + type + ": " + error;
  }
  return error;
}

DnsClient::DnsClient(std::optional<Vantage> server, std::chrono::seconds timeout)
    : server_(std::move(server)), timeout_(timeout) {}

std::string DnsClient::server_text() const { return server_ ? server_->to_string() : "the system resolver"; }

AddressLookup DnsClient::addresses(const std::string& name) const {
  AddressLookup lookup;
  bool any_ok = false, any_nodata = false;
  for (ldns_rr_type type : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
    Answer answer = query(server_, timeout_, name, type);
    if (answer.status == LookupStatus::Failed) {
      copy_base(lookup, answer);
      return lookup;  // a failed half would make the vantage list silently incomplete
    }
    if (answer.status == LookupStatus::NxDomain) {
      copy_base(lookup, answer);
      lookup.addresses.clear();
      return lookup;
    }
    any_nodata |= answer.status == LookupStatus::NoData;
    if (answer.status == LookupStatus::Ok) {
      any_ok = true;
      lookup.cname_chain = answer.cname_chain;
      lookup.ttl = lookup.ttl ? std::min(lookup.ttl, answer.ttl) : answer.ttl;
      for (const ldns_rr* rr : answer.records) {
        CStringPtr text(ldns_rdf2str(ldns_rr_rdf(rr, 0)));
        boost::system::error_code ec;
        auto address = boost::asio::ip::make_address(text ? text.get() : "", ec);
        if (!ec) lookup.addresses.push_back(address);
      }
    }
  }
  lookup.status = any_ok ? LookupStatus::Ok : (any_nodata ? LookupStatus::NoData : LookupStatus::Failed);
  std::sort(lookup.addresses.begin(), lookup.addresses.end());
  lookup.addresses.erase(std::unique(lookup.addresses.begin(), lookup.addresses.end()), lookup.addresses.end());
  return lookup;
}

MxLookup DnsClient::mx(const std::string& domain) const {
  MxLookup lookup;
  Answer answer = query(server_, timeout_, domain, LDNS_RR_TYPE_MX);
  copy_base(lookup, answer);
  for (const ldns_rr* rr : answer.records) {
    if (ldns_rr_rd_count(rr) < 2) continue;
    MxRecord record;
    record.preference = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
    record.host = name_text(ldns_rr_rdf(rr, 1));
    lookup.records.push_back(std::move(record));
  }
  std::sort(lookup.records.begin(), lookup.records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference != b.preference ? a.preference < b.preference : a.host < b.host;
  });
  return lookup;
}

TxtLookup DnsClient::txt(const std::string& name) const {
  TxtLookup lookup;
  Answer answer = query(server_, timeout_, name, LDNS_RR_TYPE_TXT);
  copy_base(lookup, answer);
  for (const ldns_rr* rr : answer.records) {
    TxtRecord record;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
      const ldns_rdf* string = ldns_rr_rdf(rr, i);
      const uint8_t* data = ldns_rdf_data(string);
      const size_t size = ldns_rdf_size(string);
      if (size < 1) continue;
      // A character-string: one length octet, then the bytes (RFC 1035 §3.3).
      const size_t length = std::min<size_t>(data[0], size - 1);
      record.text.append(reinterpret_cast<const char*>(data + 1), length);
      ++record.strings;
    }
    lookup.records.push_back(std::move(record));
  }
  return lookup;
}

}  // namespace stsd::confirm
