#pragma once
// Transaction signatures (RFC 8945): HMAC over a message and the TSIG variables, so a
// secondary and its primary know each other by a shared secret. Used for zone transfers
// and NOTIFY. Packet bytes are hostile: every read is bounds-checked.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/writer.h"

namespace stsd::dns::tsig {

inline constexpr uint16_t kType = 250;         // RFC 8945 §4.2
inline constexpr uint16_t kDefaultFudge = 300;  // RFC 8945 §10
inline constexpr size_t kMaxMacSize = 64;       // HMAC-SHA512

enum class Algorithm : uint8_t { HmacSha1, HmacSha224, HmacSha256, HmacSha384, HmacSha512 };
// "hmac-sha256" (any case, trailing dot or not); nullopt for others (RFC 8945 §6).
std::optional<Algorithm> algorithm_from_text(std::string_view text);
const Name& algorithm_name(Algorithm algorithm);  // "hmac-sha256."

// TSIG error codes (RFC 8945 §3); the message's RCODE is then NOTAUTH (9).
enum class Error : uint16_t { None = 0, BadSig = 16, BadKey = 17, BadTime = 18, BadTrunc = 22 };
inline constexpr uint16_t kNotAuth = static_cast<uint16_t>(Rcode::NotAuth);

struct Key {
  Name name;  // lowercase
  Algorithm algorithm = Algorithm::HmacSha256;
  std::vector<uint8_t> secret;
};
// A key's secret as written in configs (base64, RFC 4648 §4, as `tsig-keygen` and
// `keymgr -t` print it); nullopt when it is not base64 or is empty.
std::optional<std::vector<uint8_t>> decode_secret(std::string_view base64);

// What a request's TSIG said (RFC 8945 §5.2).
struct Check {
  bool present = false;        // the request carried a TSIG record
  const Key* key = nullptr;    // the key whose MAC matched (null when absent, BADKEY, BADSIG
                               // or BADTRUNC; set for BADTIME, whose answer it signs)
  Error error = Error::None;   // None when absent or verified
  Name key_name;               // as the request named it (for error answers and logs)
  Algorithm algorithm = Algorithm::HmacSha256;
  uint64_t time_signed = 0;
  uint16_t fudge = kDefaultFudge;
  uint16_t original_id = 0;
  uint8_t mac[kMaxMacSize] = {};
  size_t mac_size = 0;
};

// Verifies the TSIG of the request `request` was decoded from (Request::tsig_offset):
// the key must be in `keys` (BADKEY), the MAC must match (BADSIG) and `now` must be
// within the fudge of its time (BADTIME). A request without TSIG gives present=false.
Check verify_request(const Request& request, std::span<const Key> keys, int64_t now);

// Signs the messages of one answer to a verified request: a single response, or each
// message of a zone transfer in turn (RFC 8945 §5.3.1: every message is signed, each
// MAC covering the previous one).
class ResponseSigner {
 public:
  // `check` is the request's verified TSIG (key non-null).
  explicit ResponseSigner(const Check& check);
  // Keeps room for the TSIG record in a response just begun (ResponseWriter::reserve_tail),
  // so that the signed message stays within its size limit.
  void reserve(ResponseWriter& response) const;
  size_t record_size() const;
  // Finishes `response` and appends the TSIG record (after OPT; it must be the last
  // record, RFC 8945 §4.2). False when it does not fit in the message's limit.
  bool sign(ResponseWriter& response, int64_t now);

 private:
  const Key* key_;
  uint16_t original_id_;
  uint8_t prior_mac_[kMaxMacSize];
  size_t prior_mac_size_;
  bool first_ = true;
};

// The answer to a request whose TSIG failed (RFC 8945 §5.2): NOTAUTH with a TSIG
// record carrying the error (unsigned for BADKEY and BADSIG; signed, with the server's
// time, for BADTIME). Writes into `response`, begun for the request, and finishes it.
void write_error_response(ResponseWriter& response, const Check& check, int64_t now);

// Client side (NOTIFY, RFC 1996, with TSIG): signs an outgoing request in place (appends
// the TSIG record, raises ARCOUNT) and returns the MAC to check the answer with.
struct SignedRequest {
  uint8_t mac[kMaxMacSize] = {};
  size_t mac_size = 0;
};
SignedRequest sign_request(std::vector<uint8_t>& message, const Key& key, int64_t now);
// Verifies the TSIG of a response to a request signed with `request`: None when it
// verifies; the error otherwise (an answer without TSIG is BadSig).
Error verify_response(std::span<const uint8_t> response, const Key& key, const SignedRequest& request, int64_t now);

}  // namespace stsd::dns::tsig
