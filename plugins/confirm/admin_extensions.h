#pragma once
// The confirmer's extensions of the admin API (checks.h, "WIRING"): the stage check (an
// enforce policy must cover every current MX host), the confirm check (a manual
// confirmation honours what the last round saw), the status section `confirm` and the
// route GET /v1/domains/{domain}/check.
#include <memory>

#include "checks.h"
#include "environment.h"

namespace stsd::confirm {

// Registers the four extensions on the process's admin hooks, answered by `confirm`.
void register_admin_extensions(Environment& env, std::shared_ptr<ConfirmApi> confirm);

}  // namespace stsd::confirm
