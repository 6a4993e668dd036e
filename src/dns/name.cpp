#include "dns/name.h"

#include <cctype>
#include <cstdio>
#include <cstring>

namespace stsd::dns {
namespace {
inline uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
}  // namespace

std::optional<Name> Name::from_text(std::string_view text, const Name* origin) {
  Name out;
  if (text == "@") {
    if (!origin) return std::nullopt;
    return *origin;
  }
  if (text.empty()) return std::nullopt;
  if (text == ".") return out;
  size_t pos = 0;
  uint8_t* bytes = out.bytes_.data();
  size_t label_start = 0;
  size_t label_len = 0;
  bool absolute = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      if (label_len == 0) return std::nullopt;  // empty label
      bytes[label_start] = static_cast<uint8_t>(label_len);
      label_start = pos;
      label_len = 0;
      if (i + 1 == text.size()) absolute = true;
      continue;
    }
    uint8_t value;
    if (c == '\\') {
      if (i + 1 >= text.size()) return std::nullopt;
      auto digit = [&](size_t k) { return k < text.size() && std::isdigit(static_cast<unsigned char>(text[k])); };
      if (digit(i + 1)) {
        if (!digit(i + 2) || !digit(i + 3)) return std::nullopt;  // \DDD needs three digits
        int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
        if (v > 255) return std::nullopt;
        value = static_cast<uint8_t>(v);
        i += 3;
      } else {
        value = static_cast<uint8_t>(text[++i]);
      }
    } else {
      value = static_cast<uint8_t>(c);
    }
    if (label_len == 0) {
      label_start = pos;
      ++pos;  // room for the length octet
    }
    if (++label_len > kMaxLabelLength) return std::nullopt;
    if (pos + 1 >= kMaxNameLength) return std::nullopt;
    bytes[pos++] = value;
  }
  if (label_len > 0) bytes[label_start] = static_cast<uint8_t>(label_len);
  bytes[pos++] = 0;
  out.len_ = static_cast<uint16_t>(pos);
  if (!absolute) {
    if (!origin) return std::nullopt;
    if (!out.append(*origin)) return std::nullopt;
  }
  return out;
}

std::optional<Name> Name::from_wire(std::span<const uint8_t> wire) {
  if (wire.empty() || wire.size() > kMaxNameLength) return std::nullopt;
  size_t pos = 0;
  while (pos < wire.size()) {
    uint8_t len = wire[pos];
    if (len == 0) {
      if (pos + 1 != wire.size()) return std::nullopt;
      Name out;
      std::memcpy(out.bytes_.data(), wire.data(), wire.size());
      out.len_ = static_cast<uint16_t>(wire.size());
      return out;
    }
    if (len > kMaxLabelLength) return std::nullopt;
    pos += 1 + len;
  }
  return std::nullopt;
}

size_t Name::label_count() const {
  size_t count = 0;
  for (size_t pos = 0; bytes_[pos] != 0; pos += 1 + bytes_[pos]) ++count;
  return count;
}

std::string Name::to_text() const {
  if (is_root()) return ".";
  std::string out;
  out.reserve(len_ + 8);
  for (size_t pos = 0; bytes_[pos] != 0; pos += 1 + bytes_[pos]) {
    for (size_t i = 1; i <= bytes_[pos]; ++i) {
      uint8_t c = bytes_[pos + i];
      if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '$' || c == '@') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7f) {
        char esc[5];
        std::snprintf(esc, sizeof esc, "\\%03u", c);
        out.append(esc);
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('.');
  }
  return out;
}

// Every octet at once, length octets included: they are at most 63 and so never in
// 'A'..'Z'. A flat loop the compiler vectorises (this runs for every query).
void Name::to_lower() { assign_lowered(*this); }

void Name::assign_lowered(const Name& source) {
  const size_t n = source.len_;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = source.bytes_[i];
    bytes_[i] = static_cast<uint8_t>(c | (static_cast<uint8_t>(c - 'A') < 26 ? 0x20 : 0));
  }
  len_ = static_cast<uint16_t>(n);
}

Name Name::parent(size_t n) const {
  size_t pos = 0;
  for (size_t i = 0; i < n && bytes_[pos] != 0; ++i) pos += 1 + bytes_[pos];
  Name out;
  std::memcpy(out.bytes_.data(), bytes_.data() + pos, len_ - pos);
  out.len_ = static_cast<uint16_t>(len_ - pos);
  return out;
}

bool Name::is_subdomain_of(const Name& zone) const {
  if (zone.len_ > len_) return false;
  // Walk label boundaries so that "xexample.com" is not below "example.com".
  size_t pos = 0;
  while (len_ - pos > zone.len_) pos += 1 + bytes_[pos];
  if (len_ - pos != zone.len_) return false;
  return wire_names_equal({bytes_.data() + pos, zone.len_}, zone.wire());
}

bool Name::prepend_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelLength || len_ + 1 + label.size() > kMaxNameLength) return false;
  std::memmove(bytes_.data() + 1 + label.size(), bytes_.data(), len_);
  bytes_[0] = static_cast<uint8_t>(label.size());
  std::memcpy(bytes_.data() + 1, label.data(), label.size());
  len_ = static_cast<uint16_t>(len_ + 1 + label.size());
  return true;
}

bool Name::append(const Name& suffix) {
  size_t total = len_ - 1 + suffix.len_;
  if (total > kMaxNameLength) return false;
  std::memcpy(bytes_.data() + len_ - 1, suffix.bytes_.data(), suffix.len_);
  len_ = static_cast<uint16_t>(total);
  return true;
}

bool operator==(const Name& a, const Name& b) { return wire_names_equal(a.wire(), b.wire()); }

bool wire_names_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (std::memcmp(a.data(), b.data(), a.size()) == 0) return true;  // the usual case: same letters
  // Branch-free per octet (length octets are below 'A', so lowering all of them is safe).
  unsigned differ = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const uint8_t x = a[i], y = b[i];
    differ |= static_cast<uint8_t>(x | (static_cast<uint8_t>(x - 'A') < 26 ? 0x20 : 0)) ^
              static_cast<uint8_t>(y | (static_cast<uint8_t>(y - 'A') < 26 ? 0x20 : 0));
  }
  return differ == 0;
}

size_t NameHash::operator()(const Name& n) const {
  // FNV-1a over the lowercased octets.
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n.size(); ++i) {
    h ^= lower(n.data()[i]);
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

}  // namespace stsd::dns
