#include "dns/types.h"

#include <array>
#include <charconv>
#include <strings.h>

// Tables laid out by hand, one case a line: clang-format leaves them as written.
// clang-format off

namespace stsd::dns {
namespace {
struct TypeName {
  uint16_t type;
  std::string_view name;
};
constexpr std::array<TypeName, 22> kTypes{{
    {rrtype::A, "A"},         {rrtype::NS, "NS"},       {rrtype::CNAME, "CNAME"}, {rrtype::SOA, "SOA"},
    {rrtype::PTR, "PTR"},     {rrtype::HINFO, "HINFO"}, {rrtype::MX, "MX"},       {rrtype::TXT, "TXT"},
    {rrtype::AAAA, "AAAA"},   {rrtype::SRV, "SRV"},     {rrtype::NAPTR, "NAPTR"}, {rrtype::DNAME, "DNAME"},
    {rrtype::OPT, "OPT"},     {rrtype::DS, "DS"},       {rrtype::RRSIG, "RRSIG"}, {rrtype::NSEC, "NSEC"},
    {rrtype::DNSKEY, "DNSKEY"}, {rrtype::CAA, "CAA"},   {rrtype::IXFR, "IXFR"},   {rrtype::AXFR, "AXFR"},
    {rrtype::ANY, "ANY"},     {99, "SPF"},
}};
}  // namespace

std::string type_to_string(uint16_t type) {
  for (const auto& t : kTypes)
    if (t.type == type) return std::string(t.name);
  return "TYPE" + std::to_string(type);
}

std::optional<uint16_t> type_from_string(std::string_view text) {
  for (const auto& t : kTypes)
    if (text.size() == t.name.size() && strncasecmp(text.data(), t.name.data(), text.size()) == 0) return t.type;
  if (text.size() > 4 && strncasecmp(text.data(), "TYPE", 4) == 0) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data() + 4, text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size() && value <= 65535) return static_cast<uint16_t>(value);
  }
  return std::nullopt;
}

std::string_view rcode_to_string(Rcode rcode) {
  switch (rcode) {
    case Rcode::NoError: return "NOERROR";
    case Rcode::FormErr: return "FORMERR";
    case Rcode::ServFail: return "SERVFAIL";
    case Rcode::NXDomain: return "NXDOMAIN";
    case Rcode::NotImp: return "NOTIMP";
    case Rcode::Refused: return "REFUSED";
    case Rcode::NotAuth: return "NOTAUTH";
    case Rcode::BadVers: return "BADVERS";
    case Rcode::BadCookie: return "BADCOOKIE";
  }
  return "RCODE?";
}

std::string class_to_string(uint16_t rclass) {
  switch (rclass) {
    case rrclass::IN: return "IN";
    case rrclass::CH: return "CH";
    case rrclass::NONE: return "NONE";
    case rrclass::ANY: return "ANY";
  }
  return "CLASS" + std::to_string(rclass);
}

}  // namespace stsd::dns
// clang-format on
