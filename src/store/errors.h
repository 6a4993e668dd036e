#pragma once
// The ways a store operation fails. Each carries a message for the operator.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace stsd::store {

// Bad input to the store: the message names the domain/field and the reason. A write that
// throws it changed nothing.
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An import refused item by item (PolicyStore::import): every refused item with its place
// and the reason. Nothing of the import was written.
struct ImportRefusal {
  size_t item = 0;      // its position in the request
  std::string message;  // "line 7: domain '...' is too long: ..." (the item's place first)
};
class ImportRefused : public PolicyError {
 public:
  ImportRefused(std::vector<ImportRefusal> refusals, size_t items);
  const std::vector<ImportRefusal>& refusals() const { return refusals_; }

 private:
  std::vector<ImportRefusal> refusals_;
};

// The store on disk is unusable (written by a newer schema, corrupt record, I/O error).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The store refuses writes for now: its file system is (nearly) full or refuses writes,
// or a write failed and the store has not recovered yet (README.md, "Faults"). Nothing
// changed; DNS keeps answering from memory; writes resume by themselves once the cause is
// gone.
class StoreUnavailable : public StoreError {
 public:
  using StoreError::StoreError;
};

}  // namespace stsd::store
