#include "acl.h"

namespace stsd::transfer {

bool transfer_allowed(const std::vector<AllowRule>& rules, const boost::asio::ip::address& client,
                      const dns::tsig::Key* key) {
  for (const auto& rule : rules) {
    if (!rule.prefix.contains(client)) continue;
    if (!rule.key) return true;
    if (key && key->name == *rule.key) return true;
  }
  return false;
}

}  // namespace stsd::transfer
