#pragma once
// Building and reading the rdata of the record types stsd synthesizes, and the shared
// stage for negative answers. Used at set-up and on change, not per query.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "dns/name.h"
#include "dns/writer.h"

namespace stsd::dns {

struct Soa {
  Name mname;
  Name rname;
  uint32_t serial = 1;
  uint32_t refresh = 3600;
  uint32_t retry = 600;
  uint32_t expire = 604800;
  uint32_t minimum = 300;
};

std::vector<uint8_t> soa_rdata(const Soa& soa);
// Reads the MINIMUM field of SOA rdata (the last 4 octets).
uint32_t soa_minimum(std::span<const uint8_t> rdata);
std::vector<uint8_t> name_rdata(const Name& name);  // NS, CNAME, PTR
// TXT: the text split into character-strings of at most 255 octets.
std::vector<uint8_t> txt_rdata(std::string_view text);
std::vector<uint8_t> address_rdata(const boost::asio::ip::address& address);  // A or AAAA

// The authority stage of a negative answer (NXDOMAIN or NODATA, RFC 2308 §3): the
// zone's SOA with TTL = min(SOA TTL, SOA MINIMUM).
bool add_negative_soa(ResponseWriter& response, const Name& zone, uint32_t soa_ttl, std::span<const uint8_t> soa_rdata);

}  // namespace stsd::dns
