#pragma once
// What DNS needs about one domain (Facts), and its binary record on disk
// (`mtasts/s/<domain>`, schema 2): written in the same WriteBatch as every change to the
// domain, so start-up reads one compact record per domain in one sequential scan, with no
// JSON and no random Gets (1M domains in a few seconds).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/domain_record.h"

namespace stsd::store {

struct Facts {
  bool confirmed = false;
  bool pending = false;             // staged newer than confirmed (disk record only)
  uint32_t version = 0;             // confirmed version
  std::array<uint8_t, 6> digest{};  // first 12 hex digits of its digest, as bytes
  int64_t txt_changed_at = 0;
  int64_t settings_changed_at = 0;
  int64_t created_at = 0;  // disk record only (last_change at start-up)
  std::optional<int64_t> held_since;
  std::optional<int64_t> rotate_until;  // DomainRecord::rotate_until
  uint32_t rotation_hash = 0;           // rotation_hash(domain) (store/policy_id.h)
  std::string tlsrpt_txt;  // "v=TLSRPTv1; rua=..." or empty (<= 255 octets)
};

// The facts of a domain record. Throws StoreError when the confirmed digest is not hex.
Facts facts_of(std::string_view domain, const DomainRecord& record);

std::string encode_served_record(const Facts& facts);
// False when `value` is not a served record this stsd wrote. `domain`: the record's name
// (lowercase, no trailing dot).
bool decode_served_record(std::string_view domain, std::string_view value, Facts& facts);

}  // namespace stsd::store
