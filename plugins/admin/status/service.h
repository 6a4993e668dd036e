#pragma once
// The `status:` service: the status page on an http::Server of its own, apart from the
// DNS workers and from the admin API (README.md in this folder). Registered by the
// admin plugin, whose status document the page shows.
#include "registry.h"

namespace stsd::admin::status {

void register_status_page(Registry& registry);

}  // namespace stsd::admin::status
