#include "registry.h"

#include <stdexcept>

namespace stsd {

void Registry::add_plugin(std::string name, PluginFactory factory) {
  if (find_plugin(name)) throw std::logic_error("plugin registered twice: " + name);
  plugins_.push_back({std::move(name), std::move(factory)});
}

void Registry::add_service(std::string key, ServiceFactory factory) {
  if (find_service(key)) throw std::logic_error("top-level key registered twice: " + key);
  services_.push_back({std::move(key), std::move(factory)});
}

const Registry::PluginEntry* Registry::find_plugin(std::string_view name) const {
  for (const auto& p : plugins_)
    if (p.name == name) return &p;
  return nullptr;
}

const Registry::ServiceEntry* Registry::find_service(std::string_view key) const {
  for (const auto& s : services_)
    if (s.key == key) return &s;
  return nullptr;
}

}  // namespace stsd
