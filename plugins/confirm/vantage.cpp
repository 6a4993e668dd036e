#include "vantage.h"

#include "net/address.h"

namespace stsd::confirm {

std::string Vantage::to_string() const {
  return port == kHttpsPort ? address.to_string() : net::endpoint_text(address, port);
}

std::optional<Vantage> parse_vantage(std::string_view text, uint16_t default_port, std::string& error) {
  const auto parsed = net::parse_address_port(text, default_port);
  if (!parsed) {
    error = parsed.error();
    return std::nullopt;
  }
  return Vantage{parsed->address, parsed->port};
}

}  // namespace stsd::confirm
