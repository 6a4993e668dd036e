#pragma once
// A key of the plugin's `keys:` by the name the config gives it ("xfr-key" or
// "xfr-key."; names compare case-insensitively, RFC 8945 §4.2 uses the owner name).
#include <span>
#include <string_view>

#include "dns/tsig.h"

namespace stsd::transfer {

const dns::tsig::Key* find_key(std::span<const dns::tsig::Key> keys, std::string_view name);

}  // namespace stsd::transfer
