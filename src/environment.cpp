#include "environment.h"

namespace stsd {

Environment::Environment(std::filesystem::path config_dir, std::optional<std::filesystem::path> storage,
                         std::shared_ptr<Clock> clock, bool check_only, uint64_t storage_min_free_bytes)
    : config_dir_(std::move(config_dir)),
      storage_(std::move(storage)),
      storage_min_free_bytes_(storage_min_free_bytes),
      clock_(std::move(clock)),
      check_only_(check_only) {
  if (!clock_) clock_ = std::make_shared<SystemClock>();
}

Environment::~Environment() {
  // Shared objects go first, while the rest of the environment is still whole (the policy
  // store flushes and closes its database when it goes).
  shared_.clear();
}

}  // namespace stsd
