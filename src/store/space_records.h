#pragma once
// Key spaces of other parts of the process (TLS-RPT reports, issue 17): records the store
// keeps for them under `mtasts/x/<space>/`, written through the store's write frame, so
// such a write is atomic and durable like every other (one synced batch, refused while
// the store refuses writes, nothing changed when it throws) and serialized with them.
// The store does not interpret the records; nothing served depends on them.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rocksdb {
class WriteBatch;
}

namespace stsd::store {

class Disk;

// The reads and writes of one write to a key space (PolicyStore::write_space). Reads see
// the records as committed before this write (not its own puts).
class SpaceWrite {
 public:
  SpaceWrite(const Disk& disk, rocksdb::WriteBatch& batch, std::string prefix)
      : disk_(disk), batch_(batch), prefix_(std::move(prefix)) {}

  std::optional<std::string> get(std::string_view key) const;
  // Visits the records whose key starts with `key_prefix`, in key order; `visit` returns
  // false to stop.
  void scan(std::string_view key_prefix,
            const std::function<bool(std::string_view key, std::string_view value)>& visit) const;
  void put(std::string_view key, std::string_view value);
  void erase(std::string_view key);

 private:
  const Disk& disk_;
  rocksdb::WriteBatch& batch_;
  const std::string prefix_;
};

// "mtasts/x/<space>/"; PolicyError unless `space` is [a-z0-9_]{1,32}.
std::string space_prefix(std::string_view space);

// Visits the committed records of a key space (`prefix`: space_prefix(...) + key prefix);
// the caller holds what keeps `disk`'s database in place.
void scan_space(const Disk& disk, std::string_view prefix,
                const std::function<bool(std::string_view key, std::string_view value)>& visit);

}  // namespace stsd::store
