#include "siphash.h"

#include <bit>

namespace stsd::cookies {
namespace {

struct State {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  // SipHash-c-d with c = 2 rounds per message word.
  void compress(uint64_t word) {
    v3 ^= word;
    round();
    round();
    v0 ^= word;
  }
};

}  // namespace

uint64_t load_le64(const uint8_t* in) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | in[i];
  return value;
}

void store_le64(uint64_t value, std::span<uint8_t, 8> out) {
  for (size_t i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

SipKey SipKey::from_bytes(std::span<const uint8_t, 16> bytes) {
  return SipKey{load_le64(bytes.data()), load_le64(bytes.data() + 8)};
}

uint64_t siphash24(const SipKey& key, std::span<const uint8_t> message) {
  // The initialisation constants spell "somepseudorandomlygeneratedbytes".
  State s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL, key.k0 ^ 0x6c7967656e657261ULL,
          key.k1 ^ 0x7465646279746573ULL};
  const size_t whole = message.size() / 8 * 8;
  for (size_t i = 0; i < whole; i += 8) s.compress(load_le64(message.data() + i));
  // The last word: the remaining octets, with the length (mod 256) in the top octet.
  uint64_t last = static_cast<uint64_t>(message.size() & 0xff) << 56;
  for (size_t i = whole; i < message.size(); ++i) last |= static_cast<uint64_t>(message[i]) << (8 * (i - whole));
  s.compress(last);
  // d = 4 finalisation rounds.
  s.v2 ^= 0xff;
  s.round();
  s.round();
  s.round();
  s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace stsd::cookies
