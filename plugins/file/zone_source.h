#pragma once
// The file plugin's zones as data for zone transfers (zone/source.h): each loaded zone
// with the serial of its SOA, and its records. A zone changes only when its chain is
// rebuilt (start-up, SIGHUP); its serial is whatever the file says, so a file edited
// without raising the serial keeps its serial and secondaries do not see the change
// (warn_unchanged_serials logs it, as Knot and BIND do).
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "environment.h"
#include "pending_load.h"
#include "zone.h"
#include "zone/source.h"

namespace stsd::file {

class FileZoneSource final : public zone::Source {
 public:
  explicit FileZoneSource(std::vector<std::shared_ptr<const Zone>> zones);
  void list(std::vector<zone::ZoneEntry>& out) const override;
  // The SOA, then every other record, owners in lowercase, sorted by owner (wire order)
  // and type: glue and delegations included (RFC 5936 §3.1: the zone as loaded).
  std::optional<zone::Content> render(const dns::Name& apex) const override;

 private:
  std::vector<std::shared_ptr<const Zone>> zones_;
};

struct LoadedZoneFile {
  std::shared_ptr<const Zone> zone;
  std::filesystem::path path;
};

// When `load` commits: for each zone that the server block `key` served before, a
// warning when its records changed but its SOA serial did not (naming the zone file).
void warn_unchanged_serials_on_commit(Environment& env, PendingLoad& load, std::string key,
                                      std::vector<LoadedZoneFile> zones);

}  // namespace stsd::file
