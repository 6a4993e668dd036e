// The `file` plugin: authoritative answers from RFC 1035 master files.
#include "file_plugin.h"

#include <filesystem>
#include <set>
#include <system_error>
#include <string>

#include "zone_loader.h"
#include "zone_source.h"

namespace stsd::file {

FilePlugin::FilePlugin(std::vector<std::shared_ptr<const Zone>> zones) : zones_(std::move(zones)) {}

void FilePlugin::serve(Query& query, Next next) const {
  const auto& request = query.request;
  // Only class IN lives in master files here; CH (chaos) and others belong to later
  // plugins or to nobody (REFUSED from the core).
  if (!request.has_question || request.question.rclass != dns::rrclass::IN) return next(query);
  // Zone transfers belong to the `transfer` plugin (earlier in the chain), which reads
  // these zones through FileZoneSource; without it the core refuses them.
  const uint16_t qtype = request.question.type;
  if (qtype == dns::rrtype::AXFR || qtype == dns::rrtype::IXFR) return next(query);
  const Zone* zone = pick_zone(zones_, request.question.name, request.question.type);
  if (!zone) return next(query);
  zone->answer(request, query.response);
}

namespace {

ZoneFileRules zone_file_rules(const ConfigNode& item) {
  ZoneFileRules rules;
  if (auto folders = item.get("include_folders")) {
    for (const ConfigNode& folder : folders->items()) {
      auto path = folder.as_path();
      std::error_code error;
      if (!std::filesystem::is_directory(path, error)) folder.fail("not a folder: " + path.string());
      rules.include_folders.push_back(std::move(path));
    }
  }
  // Below 1 KiB no zone fits; 16 GiB is far above any zone held in memory.
  rules.max_bytes = item.uint_or("max_bytes", kDefaultMaxZoneBytes, 1024, 16ull << 30);
  return rules;
}

}  // namespace

std::unique_ptr<Plugin> make_file_plugin(PluginSetup& setup) {
  const ConfigNode& config = setup.config;
  if (!config.is_sequence() || config.size() == 0)
    config.fail("expected a list of zones, e.g. `- { zone: example.org., path: zones/example.org.zone }`");
  std::vector<std::shared_ptr<const Zone>> zones;
  std::vector<LoadedZoneFile> files;
  std::set<std::string> seen;
  for (const ConfigNode& item : config.items()) {
    item.expect_map({"zone", "path", "include_folders", "max_bytes"});
    const ConfigNode zone_node = item.require("zone");
    std::string zone_text = zone_node.as_string();
    // "example.org" and "example.org." name the same zone.
    if (zone_text.empty() || zone_text.back() != '.') zone_text.push_back('.');
    auto apex = dns::Name::from_text(zone_text);
    if (!apex) zone_node.fail("invalid zone name '" + zone_node.as_string() + "'");
    if (!seen.insert(apex->lowered().to_text()).second) zone_node.fail("zone " + apex->to_text() + " is listed twice");
    const ConfigNode path_node = item.require("path");
    const auto path = path_node.as_path();
    const ZoneFileRules rules = zone_file_rules(item);
    try {
      zones.push_back(load_zone(*apex, path, rules));
      files.push_back({zones.back(), path});
    } catch (const ZoneError& error) {
      path_node.fail(error.what());
    }
  }
  const std::string key = "file#" + std::to_string(setup.server_index);
  warn_unchanged_serials_on_commit(setup.env, setup.load, key, std::move(files));
  auto plugin = std::make_unique<FilePlugin>(zones);
  zone::add_source_on_commit(setup.env, setup.load, key, std::make_shared<FileZoneSource>(std::move(zones)),
                             plugin->source_registration_slot());
  return plugin;
}

}  // namespace stsd::file

void stsd_register_file(stsd::Registry& registry) { registry.add_plugin("file", stsd::file::make_file_plugin); }
