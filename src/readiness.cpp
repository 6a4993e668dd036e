#include "readiness.h"

#include <algorithm>

#include "environment.h"

namespace stsd {

Readiness::Gate::Gate(Gate&& other) noexcept : owner_(std::move(other.owner_)), id_(other.id_) {
  other.owner_.reset();
}

Readiness::Gate& Readiness::Gate::operator=(Gate&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::move(other.owner_);
    id_ = other.id_;
    other.owner_.reset();
  }
  return *this;
}

Readiness::Gate::~Gate() { release(); }

void Readiness::Gate::open() {
  if (!owner_) return;
  auto owner = std::move(owner_);
  owner->open_gate(id_);
}

void Readiness::Gate::release() {
  if (!owner_) return;
  auto owner = std::move(owner_);
  owner->withdraw_gate(id_);
}

std::shared_ptr<Readiness> Readiness::of(Environment& env) {
  return env.shared<Readiness>("core.readiness", [] { return std::make_shared<Readiness>(); });
}

Readiness::Gate Readiness::add_gate(std::string name) {
  uint64_t id;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    entries_.push_back({id, std::move(name), false});
  }
  changed();
  return Gate(shared_from_this(), id);
}

void Readiness::open_gate(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [id](const Entry& e) { return e.id == id; });
    if (it == entries_.end() || it->open) return;
    it->open = true;
  }
  changed();
}

void Readiness::withdraw_gate(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [id](const Entry& e) { return e.id == id; });
    if (it == entries_.end() || it->open) return;
    entries_.erase(it);
  }
  changed();
}

bool Readiness::ready() const {
  std::lock_guard lock(mutex_);
  return !stopping_ && std::all_of(entries_.begin(), entries_.end(), [](const Entry& e) { return e.open; });
}

std::vector<Readiness::GateState> Readiness::gates() const {
  std::lock_guard lock(mutex_);
  std::vector<GateState> out;
  for (const auto& e : entries_) out.push_back({e.name, e.open});
  return out;
}

std::vector<std::string> Readiness::closed_gates() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& e : entries_)
    if (!e.open && std::find(out.begin(), out.end(), e.name) == out.end()) out.push_back(e.name);
  return out;
}

void Readiness::set_stopping() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed();
}

bool Readiness::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void Readiness::on_change(std::function<void()> listener) {
  std::lock_guard lock(mutex_);
  listener_ = listener ? std::make_shared<const std::function<void()>>(std::move(listener)) : nullptr;
}

void Readiness::changed() {
  std::shared_ptr<const std::function<void()>> listener;
  {
    std::lock_guard lock(mutex_);
    listener = listener_;
  }
  if (listener) (*listener)();
}

}  // namespace stsd
