#pragma once
// Who may transfer zones: a list of address prefixes, each with an optional TSIG key the
// request must be signed with (RFC 8945). Nothing matches by default: a plugin with an
// empty list refuses every transfer (RFC 5936 §5: a primary restricts who may transfer).
#include <optional>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "dns/name.h"
#include "dns/tsig.h"
#include "net/prefix.h"

namespace stsd::transfer {

struct AllowRule {
  net::AddressPrefix prefix;
  std::optional<dns::Name> key;  // when set, the request must be signed with this key
};

// Whether a request from `client`, signed with `key` (null: unsigned or not verified),
// may transfer: some rule's prefix holds the address and the rule asks for no key or
// for that key.
bool transfer_allowed(const std::vector<AllowRule>& rules, const boost::asio::ip::address& client,
                      const dns::tsig::Key* key);

}  // namespace stsd::transfer
