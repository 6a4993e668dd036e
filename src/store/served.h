#pragma once
// What answering reads about one domain: ServedDomain (built per call from one RocksDB
// snapshot by PolicyStore::served, for the policy host, the confirmer and the admin API)
// and ServedView (DNS: a view into the in-memory index, no allocation, no lock).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/policy_id.h"

namespace stsd::store {

struct ServedVersion {
  uint32_t number = 0;
  std::string digest;  // hex
  int64_t at = 0;      // created (staged) or confirmed (confirmed) time
};

struct ServedDomain {
  std::string domain;    // "example.com"
  std::string wire_key;  // lowercase wire labels WITHOUT the root octet
  std::optional<ServedVersion> confirmed;
  std::optional<ServedVersion> staged;
  std::string staged_policy;          // render_policy(newest staged), for the policy host
  std::optional<int64_t> held_since;    // hold set: id frozen at this period
  std::optional<int64_t> rotate_until;  // no period starting later (DomainRecord::rotate_until)
  uint32_t rotation_hash = 0;           // rotation_hash(domain)
  int64_t txt_changed_at = 0;         // last confirm/hold change (SOA serial input)
  int64_t settings_changed_at = 0;    // last settings change (SOA serial input)
  std::string tlsrpt_txt;             // "v=TLSRPTv1; rua=..." or empty
  std::vector<uint8_t> tlsrpt_rdata;  // its TXT rdata (one string) or empty

  // The id served at `unix_now` (no allocation); 0 when nothing is confirmed.
  size_t id_at(int64_t unix_now, const RotationSchedule& schedule, char (&out)[kMaxIdLength]) const noexcept;
  // The period the id is in at `unix_now`: the one containing effective_time().
  Period effective_period(int64_t unix_now, const RotationSchedule& schedule) const noexcept;
};

// The moment whose period the id shows: now, unless a hold froze it earlier or evidence
// runs out earlier (a rotation needs evidence, issue 11).
constexpr int64_t effective_time(int64_t unix_now, std::optional<int64_t> held_since,
                                 std::optional<int64_t> rotate_until) noexcept {
  int64_t t = unix_now;
  if (held_since && *held_since < t) t = *held_since;
  if (rotate_until && *rotate_until < t) t = *rotate_until;
  return t;
}

// What DNS answering reads about one domain: a view into an immutable index shard (which
// it keeps alive), so a lookup allocates nothing and takes no lock. Empty (false) when
// the domain is not in the store.
class ServedView {
 public:
  ServedView() = default;
  explicit operator bool() const noexcept { return entry_ != nullptr; }
  bool operator==(std::nullptr_t) const noexcept { return entry_ == nullptr; }

  std::span<const uint8_t> wire_key() const noexcept;  // lowercase wire labels, no root octet
  bool has_confirmed() const noexcept;
  uint32_t confirmed_version() const noexcept;  // 0 when nothing is confirmed
  std::optional<int64_t> held_since() const noexcept;
  std::optional<int64_t> rotate_until() const noexcept;
  uint32_t rotation_hash() const noexcept;
  int64_t txt_changed_at() const noexcept;
  int64_t settings_changed_at() const noexcept;
  std::span<const uint8_t> tlsrpt_rdata() const noexcept;  // TXT rdata (one string) or empty
  // As ServedDomain::id_at / effective_period (the same id, byte for byte).
  size_t id_at(int64_t unix_now, const RotationSchedule& schedule, char (&out)[kMaxIdLength]) const noexcept;
  Period effective_period(int64_t unix_now, const RotationSchedule& schedule) const noexcept;

 private:
  friend class ServedIndex;
  ServedView(std::shared_ptr<const void> keep, const std::byte* entry) noexcept
      : keep_(std::move(keep)), entry_(entry) {}
  std::shared_ptr<const void> keep_;  // the shard holding entry_
  const std::byte* entry_ = nullptr;
};

}  // namespace stsd::store
