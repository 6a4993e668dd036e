#pragma once
// The admin API service: JSON over HTTP/1.1 on a unix socket (and optionally a TCP
// listener with a bearer token), through which operators and stsctl change the policy
// store while stsd runs. It is one of the store's writers, not the only one: the
// confirmer confirms versions and sets and clears drift holds, and the `policies:` folder
// is synced into the store at start-up and on SIGHUP. The store serializes its writers
// and validates every write (src/store/policy_store.h), whoever makes it.
// API reference: plugins/admin/README.md.

namespace stsd {
class Registry;
}

// Registers the service for the top-level config key `admin` (called from the generated
// plugin list, plugins/CMakeLists.txt).
void stsd_register_admin(stsd::Registry& registry);
