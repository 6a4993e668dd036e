#include "pending_load.h"

#include <exception>

#include "logging.h"

namespace stsd {

void PendingLoad::commit() {
  // Rounds: actions registered while one round runs form the next round.
  while (!actions_.empty()) {
    auto actions = std::move(actions_);
    actions_.clear();
    for (auto& action : actions) {
      try {
        action();
      } catch (const std::exception& e) {
        log::error(std::string("config load: applying a prepared change failed: ") + e.what());
      } catch (...) {
        log::error("config load: applying a prepared change failed");
      }
    }
  }
}

}  // namespace stsd
