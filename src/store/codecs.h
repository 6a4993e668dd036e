#pragma once
// The JSON forms of the store's records (keys.h says which key holds which). Decoders
// throw std::exception on malformed text; the caller names the key in its StoreError.
#include <cstdint>
#include <string>
#include <string_view>

#include "store/domain_record.h"
#include "store/records.h"

namespace stsd::store {

// A domain record names its versions by number (0 = none); the reader loads them.
struct StoredRecord {
  DomainRecord record;  // without the staged/confirmed versions
  uint32_t staged = 0;
  uint32_t confirmed = 0;
};

std::string encode_record(const DomainRecord& record);
StoredRecord decode_record(std::string_view text);

std::string encode_version(const PolicyVersion& version);
PolicyVersion decode_version(std::string_view text);

std::string encode_event(const Event& event);
Event decode_event(std::string_view text);

}  // namespace stsd::store
