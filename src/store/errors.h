#pragma once
// The two ways a store operation fails. Both carry a message for the operator.
#include <stdexcept>

namespace stsd::store {

// Bad input to the store: the message names the domain/field and the reason. A write that
// throws it changed nothing.
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The store on disk is unusable (written by a newer schema, corrupt record, I/O error).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace stsd::store
