#pragma once
// The NOTIFY message (RFC 1996 §3) and the reading of its answer. Answers come from the
// network: every read is bounds-checked.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dns/name.h"
#include "dns/types.h"

namespace stsd::transfer {

// A NOTIFY for `apex`: opcode NOTIFY, AA set, the question `apex` SOA IN (§3.7). The
// answer section stays empty: the current SOA there is optional (§3.7) and secondaries
// query the SOA themselves when it is absent (§3.11).
std::vector<uint8_t> build_notify(uint16_t id, const dns::Name& apex);

struct NotifyAnswer {
  uint16_t id = 0;
  uint16_t rcode = 0;  // the header's 4 bits (a TSIG error travels as NOTAUTH, RFC 8945 §5.3)
};

// The answer `packet` gives to a NOTIFY for `apex`: nullopt unless it is a response (QR)
// with opcode NOTIFY whose question, when present, is `apex` SOA IN (§4.7 lets a
// secondary echo it; a stray or spoofed packet names something else).
std::optional<NotifyAnswer> read_notify_answer(std::span<const uint8_t> packet, const dns::Name& apex);

// The ID of a DNS message, nullopt when it is too short to have a header.
std::optional<uint16_t> message_id(std::span<const uint8_t> packet);

}  // namespace stsd::transfer
