#include "notify_message.h"

#include "dns/message.h"

namespace stsd::transfer {

namespace {
constexpr uint16_t kOpcodeShift = 11;
constexpr uint16_t kOpcodeMask = 0x7800;
constexpr uint16_t kRcodeMask = 0x000f;

void put16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}
uint16_t get16(std::span<const uint8_t> packet, size_t at) {
  return static_cast<uint16_t>(packet[at] << 8 | packet[at + 1]);
}
}  // namespace

std::vector<uint8_t> build_notify(uint16_t id, const dns::Name& apex) {
  std::vector<uint8_t> message;
  message.reserve(dns::kHeaderSize + apex.size() + 4);
  put16(message, id);
  put16(message, static_cast<uint16_t>(static_cast<uint16_t>(dns::Opcode::Notify) << kOpcodeShift) | dns::flag::AA);
  put16(message, 1);  // QDCOUNT
  put16(message, 0);  // ANCOUNT
  put16(message, 0);  // NSCOUNT
  put16(message, 0);  // ARCOUNT
  const auto wire = apex.wire();
  message.insert(message.end(), wire.begin(), wire.end());
  put16(message, dns::rrtype::SOA);
  put16(message, dns::rrclass::IN);
  return message;
}

std::optional<uint16_t> message_id(std::span<const uint8_t> packet) {
  if (packet.size() < dns::kHeaderSize) return std::nullopt;
  return get16(packet, 0);
}

std::optional<NotifyAnswer> read_notify_answer(std::span<const uint8_t> packet, const dns::Name& apex) {
  if (packet.size() < dns::kHeaderSize) return std::nullopt;
  const uint16_t flags = get16(packet, 2);
  if (!(flags & dns::flag::QR)) return std::nullopt;
  if (((flags & kOpcodeMask) >> kOpcodeShift) != static_cast<uint16_t>(dns::Opcode::Notify)) return std::nullopt;
  const uint16_t questions = get16(packet, 4);
  if (questions > 1) return std::nullopt;
  if (questions == 1) {
    size_t offset = dns::kHeaderSize;
    dns::Name name;
    if (!dns::read_name(packet, offset, name)) return std::nullopt;
    if (offset + 4 > packet.size()) return std::nullopt;
    if (!(name == apex) || get16(packet, offset) != dns::rrtype::SOA || get16(packet, offset + 2) != dns::rrclass::IN)
      return std::nullopt;
  }
  return NotifyAnswer{get16(packet, 0), static_cast<uint16_t>(flags & kRcodeMask)};
}

}  // namespace stsd::transfer
