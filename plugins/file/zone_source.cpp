#include "zone_source.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "dns/types.h"
#include "logging.h"

namespace stsd::file {

namespace {

bool wire_less(const dns::Name& a, const dns::Name& b) {
  const auto x = a.wire(), y = b.wire();
  return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
}

// The zones each server block's file plugin served at the last commit (process-wide).
struct CommittedZoneFiles {
  std::mutex mutex;
  std::map<std::string, std::vector<LoadedZoneFile>> by_block;
};

}  // namespace

FileZoneSource::FileZoneSource(std::vector<std::shared_ptr<const Zone>> zones) : zones_(std::move(zones)) {}

void FileZoneSource::list(std::vector<zone::ZoneEntry>& out) const {
  for (const auto& zone : zones_) out.push_back({zone->apex(), zone->serial()});
}

std::optional<zone::Content> FileZoneSource::render(const dns::Name& apex) const {
  const auto it = std::find_if(zones_.begin(), zones_.end(), [&](const auto& zone) { return zone->apex() == apex; });
  if (it == zones_.end()) return std::nullopt;
  const Zone& zone = **it;
  zone::Content content;
  content.serial = zone.serial();
  const RRset& soa = zone.soa();
  content.records.push_back({zone.apex(), dns::rrtype::SOA, soa.ttl, soa.rdatas.front()});
  std::vector<const Zone::NodeMap::value_type*> nodes;
  nodes.reserve(zone.nodes().size());
  for (const auto& entry : zone.nodes()) nodes.push_back(&entry);
  std::sort(nodes.begin(), nodes.end(), [](const auto* a, const auto* b) { return wire_less(a->first, b->first); });
  for (const auto* entry : nodes) {
    for (const RRset& rrset : entry->second.rrsets) {  // sorted by type
      if (&rrset == &soa) continue;
      for (const auto& rdata : rrset.rdatas) content.records.push_back({entry->first, rrset.type, rrset.ttl, rdata});
    }
  }
  return content;
}

void warn_unchanged_serials_on_commit(Environment& env, PendingLoad& load, std::string key,
                                      std::vector<LoadedZoneFile> zones) {
  load.on_commit([&env, key = std::move(key), zones = std::move(zones)] {
    auto committed = env.shared<CommittedZoneFiles>("file/committed_zone_files",
                                                    [] { return std::make_shared<CommittedZoneFiles>(); });
    std::lock_guard lock(committed->mutex);
    auto& before = committed->by_block[key];
    for (const auto& now : zones) {
      const auto old = std::find_if(before.begin(), before.end(),
                                    [&](const LoadedZoneFile& file) { return file.zone->apex() == now.zone->apex(); });
      if (old == before.end() || old->zone->serial() != now.zone->serial()) continue;
      if (old->zone->nodes() == now.zone->nodes()) continue;
      // RFC 1996 §3.11 / RFC 1995: secondaries compare serials, not records.
      log::warn("file: zone " + now.zone->apex().to_text() + " (" + now.path.string() +
                ") changed but its SOA serial is still " + std::to_string(now.zone->serial()) +
                ": secondaries will not transfer the change; increase the serial");
    }
    before = zones;
  });
}

}  // namespace stsd::file
