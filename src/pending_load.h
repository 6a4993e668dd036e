#pragma once
// A load of the config in progress (at start and at each SIGHUP), so that a reload is all
// or nothing. Phase one: every plugin factory and every service prepares from the new
// config, with no effect anyone can observe, and registers what will apply it with
// `on_commit`. Phase two, only when every part prepared: the core runs those actions in
// order. A load that is abandoned (a bad section anywhere, the last one included) just
// destroys the PendingLoad, and nothing registered ever runs.
#include <functional>
#include <map>
#include <memory>
#include <typeindex>
#include <vector>

namespace stsd {

class PendingLoad {
 public:
  PendingLoad() = default;
  PendingLoad(const PendingLoad&) = delete;
  PendingLoad& operator=(const PendingLoad&) = delete;

  // `action` applies something prepared. It runs at commit, after the chains of this load
  // were published, in the order registered. It should not throw: whatever could fail
  // belongs in preparation (bind a socket there, listen here). An exception that escapes
  // anyway is logged and the remaining actions still run. An action may itself register
  // one: it runs after every action registered before it, i.e. once every part of the
  // load has applied its own (work that needs all of them, e.g. reading every plugin's
  // zone::Source).
  void on_commit(std::function<void()> action) { actions_.push_back(std::move(action)); }

  // One T for this load only, made on first use: for checks that span several factories
  // of the same load (e.g. a setting every server block must agree on). Dropped with the
  // load, so an abandoned reload leaves no trace. Use a type of your own as T.
  template <class T>
  T& scratch() {
    auto& slot = scratch_[std::type_index(typeid(T))];
    if (!slot) slot = std::make_shared<T>();
    return *static_cast<T*>(slot.get());
  }

  // Runs every action once; the core calls it when the whole load prepared.
  void commit();

 private:
  std::vector<std::function<void()>> actions_;
  std::map<std::type_index, std::shared_ptr<void>> scratch_;
};

}  // namespace stsd
