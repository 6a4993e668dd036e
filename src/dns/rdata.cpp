#include "dns/rdata.h"

#include <algorithm>

namespace stsd::dns {
namespace {
void put32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
}  // namespace

std::vector<uint8_t> soa_rdata(const Soa& soa) {
  std::vector<uint8_t> out(soa.mname.wire().begin(), soa.mname.wire().end());
  out.insert(out.end(), soa.rname.wire().begin(), soa.rname.wire().end());
  put32(out, soa.serial);
  put32(out, soa.refresh);
  put32(out, soa.retry);
  put32(out, soa.expire);
  put32(out, soa.minimum);
  return out;
}

uint32_t soa_minimum(std::span<const uint8_t> rdata) {
  if (rdata.size() < 4) return 0;
  const uint8_t* p = rdata.data() + rdata.size() - 4;
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}

std::vector<uint8_t> name_rdata(const Name& name) { return {name.wire().begin(), name.wire().end()}; }

std::vector<uint8_t> txt_rdata(std::string_view text) {
  std::vector<uint8_t> out;
  // An empty TXT still has one (empty) character-string (RFC 1035 §3.3.14).
  do {
    const size_t chunk = std::min<size_t>(text.size(), 255);
    out.push_back(static_cast<uint8_t>(chunk));
    out.insert(out.end(), text.begin(), text.begin() + chunk);
    text.remove_prefix(chunk);
  } while (!text.empty());
  return out;
}

std::vector<uint8_t> address_rdata(const boost::asio::ip::address& address) {
  if (address.is_v4()) {
    auto b = address.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  auto b = address.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

bool add_negative_soa(ResponseWriter& response, const Name& zone, uint32_t soa_ttl, std::span<const uint8_t> rdata) {
  const uint32_t ttl = std::min(soa_ttl, soa_minimum(rdata));
  return response.add(Section::Authority, RecordRef{zone, rrtype::SOA, rrclass::IN, ttl, rdata});
}

}  // namespace stsd::dns
