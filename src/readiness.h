#pragma once
// Whether the process is ready to serve: a set of named gates that the components which
// must be up before it is open themselves. The core knows none of them by name except its
// own ("listeners-bound"); the store layer adds "store-index-loaded" while it loads, a
// plugin or service adds its own the same way. Read by the readiness probe (`/readyz` on
// the metrics listener) and by the service manager notification (server/sd_notify.h).
//
// Ready means: every gate registered so far is open and the process is not stopping. A
// gate is added closed; once opened it stays open. A component registers its gate before
// the work it waits for starts (so that a probe sees it closed meanwhile), which at start
// is before the core opens "listeners-bound": the core opens its gate last.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace stsd {

class Environment;

class Readiness : public std::enable_shared_from_this<Readiness> {
 public:
  struct GateState {
    std::string name;
    bool open = false;
  };

  // A closed gate's handle, held by the component that will open it. Dropping the handle
  // of a gate never opened withdraws the gate: the work it waited for was abandoned (a
  // store that failed to open, a reload refused), and nothing is left holding the process
  // back for it. An opened gate stays open after its handle is gone.
  class Gate {
   public:
    Gate() = default;
    Gate(Gate&& other) noexcept;
    Gate& operator=(Gate&& other) noexcept;
    Gate(const Gate&) = delete;
    Gate& operator=(const Gate&) = delete;
    ~Gate();

    void open();

   private:
    friend class Readiness;
    Gate(std::shared_ptr<Readiness> owner, uint64_t id) : owner_(std::move(owner)), id_(id) {}
    void release();
    std::shared_ptr<Readiness> owner_;
    uint64_t id_ = 0;
  };

  // The process-wide registry (Environment::shared).
  static std::shared_ptr<Readiness> of(Environment& env);

  // Adds a closed gate. Names are short and fixed by the code (they appear in /readyz and
  // as a metric label): kebab-case, e.g. "store-index-loaded". Two gates may share a name
  // (two components waiting for the same kind of thing); both must open.
  Gate add_gate(std::string name);

  bool ready() const;
  // Every gate in the order added, closed and open.
  std::vector<GateState> gates() const;
  // The names of the closed gates, in the order added (each name once).
  std::vector<std::string> closed_gates() const;

  // Shutdown began: not ready any more, whatever the gates say (load balancers drain).
  void set_stopping();
  bool stopping() const;

  // Called after every change (a gate added, opened or withdrawn; stopping), outside the
  // registry's lock, on the thread that made it. One listener (the core's service manager
  // notification); replaces the previous one; must not throw.
  void on_change(std::function<void()> listener);

 private:
  struct Entry {
    uint64_t id;
    std::string name;
    bool open;
  };
  void open_gate(uint64_t id);
  void withdraw_gate(uint64_t id);
  void changed();

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::shared_ptr<const std::function<void()>> listener_;
};

}  // namespace stsd
