#pragma once
// Domain names in uncompressed wire form, held in a fixed buffer so that the query
// path never allocates for them.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace stsd::dns {

inline constexpr size_t kMaxNameLength = 255;  // RFC 1035 §2.3.4, wire octets incl. root
inline constexpr size_t kMaxLabelLength = 63;

class Name {
 public:
  Name() {
    bytes_[0] = 0;
    len_ = 1;
  }  // the root name

  // Parses presentation format ("www.example.com." or relative to `origin` when not
  // ending in a dot; "@" is the origin). Escapes \. and \DDD are honoured.
  static std::optional<Name> from_text(std::string_view text, const Name* origin = nullptr);
  // Copies a well-formed uncompressed wire name (validated).
  static std::optional<Name> from_wire(std::span<const uint8_t> wire);

  std::span<const uint8_t> wire() const { return {bytes_.data(), len_}; }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return len_; }
  bool is_root() const { return len_ == 1; }
  size_t label_count() const;

  // Presentation format with a trailing dot; special bytes escaped.
  std::string to_text() const;

  // ASCII lowercase in place (DNS names compare case-insensitively, RFC 4343).
  void to_lower();
  // Becomes the lowercase copy of `source` (copies only its octets).
  void assign_lowered(const Name& source);
  Name lowered() const {
    Name n = *this;
    n.to_lower();
    return n;
  }

  // The name with its first `n` labels removed.
  Name parent(size_t n = 1) const;
  // True when this name equals `zone` or lies below it (case-insensitive).
  bool is_subdomain_of(const Name& zone) const;
  // Prepends one label; false when the result would be too long.
  bool prepend_label(std::string_view label);
  // this + suffix (this must not be the root alone for a meaningful result);
  // false when the result would exceed 255 octets.
  bool append(const Name& suffix);
  // First label's bytes (without the length octet).
  std::string_view first_label() const { return {reinterpret_cast<const char*>(bytes_.data() + 1), bytes_[0]}; }

  friend bool operator==(const Name& a, const Name& b);  // case-insensitive

  // Builds in place (used by the wire decoder).
  uint8_t* mutable_data() { return bytes_.data(); }
  void set_size(size_t n) { len_ = static_cast<uint16_t>(n); }

 private:
  std::array<uint8_t, kMaxNameLength + 1> bytes_;
  uint16_t len_;
};

// Case-insensitive comparison of two uncompressed wire names.
bool wire_names_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

struct NameHash {
  size_t operator()(const Name& n) const;  // case-insensitive, to match operator==
};

}  // namespace stsd::dns
