#include "net/prefix.h"

#include <array>
#include <charconv>
#include <string>

namespace stsd::net {

// An IPv4 client reaching an IPv6 socket appears as ::ffff:a.b.c.d; rules name it as IPv4.
boost::asio::ip::address unmapped(const boost::asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  return address;
}

namespace {

template <size_t N>
bool same_prefix(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b, unsigned length) {
  const unsigned whole = length / 8;
  for (unsigned i = 0; i < whole; ++i)
    if (a[i] != b[i]) return false;
  const unsigned rest = length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

template <size_t N>
bool host_bits_clear(const std::array<unsigned char, N>& bytes, unsigned length) {
  for (unsigned bit = length; bit < N * 8; ++bit)
    if (bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
  return true;
}

}  // namespace

bool AddressPrefix::contains(const boost::asio::ip::address& raw) const {
  const auto address = unmapped(raw);
  if (address.is_v4() != network.is_v4()) return false;
  if (address.is_v4()) return same_prefix(address.to_v4().to_bytes(), network.to_v4().to_bytes(), length);
  return same_prefix(address.to_v6().to_bytes(), network.to_v6().to_bytes(), length);
}

std::optional<AddressPrefix> parse_prefix(std::string_view text) {
  const size_t slash = text.find('/');
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(std::string(text.substr(0, slash)), error);
  if (error) return std::nullopt;
  const unsigned max = address.is_v4() ? 32 : 128;
  unsigned length = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    auto [end, parse_error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (digits.empty() || parse_error != std::errc() || end != digits.data() + digits.size() || length > max)
      return std::nullopt;
  }
  const bool clear = address.is_v4() ? host_bits_clear(address.to_v4().to_bytes(), length)
                                     : host_bits_clear(address.to_v6().to_bytes(), length);
  if (!clear) return std::nullopt;
  return AddressPrefix{address, length};
}

std::string prefix_refusal(std::string_view text) {
  std::string message = "'";
  message.append(text);
  message += "' is not an address prefix (192.0.2.0/24, 2001:db8::/32 or one address; no host bits after the length)";
  return message;
}

}  // namespace stsd::net
