#pragma once
// How a plugin adds its zone::Source (zone/source.h): when its load commits, under a key
// naming the plugin and its server block ("mtasts#0"), for as long as the plugin lives.
#include <memory>
#include <string>

#include "environment.h"
#include "pending_load.h"
#include "zone/source.h"

namespace stsd::zone {

// The registration a plugin holds: filled at commit, dropped with the plugin (its chain).
using RegistrationSlot = std::shared_ptr<std::shared_ptr<void>>;
inline RegistrationSlot make_registration_slot() { return std::make_shared<std::shared_ptr<void>>(); }

// At commit, adds `source` to the process's Sources under `key` and keeps the handle in
// `slot` (nothing happens when the plugin is gone by then). The handle keeps the
// Sources alive too, whatever order the process tears down in.
void add_source_on_commit(Environment& env, PendingLoad& load, std::string key, std::shared_ptr<const Source> source,
                          std::weak_ptr<std::shared_ptr<void>> slot);

}  // namespace stsd::zone
