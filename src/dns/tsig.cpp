#include "dns/tsig.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace stsd::dns::tsig {
namespace {

struct AlgorithmInfo {
  Algorithm algorithm;
  std::string_view text;  // RFC 8945 §6 names, without the trailing dot
  const char* digest;     // OpenSSL's digest name
  size_t mac_size;
};
constexpr AlgorithmInfo kAlgorithms[] = {
    {Algorithm::HmacSha1, "hmac-sha1", "SHA1", 20},         {Algorithm::HmacSha224, "hmac-sha224", "SHA2-224", 28},
    {Algorithm::HmacSha256, "hmac-sha256", "SHA2-256", 32}, {Algorithm::HmacSha384, "hmac-sha384", "SHA2-384", 48},
    {Algorithm::HmacSha512, "hmac-sha512", "SHA2-512", 64},
};
const AlgorithmInfo& info(Algorithm algorithm) { return kAlgorithms[static_cast<size_t>(algorithm)]; }

std::optional<Algorithm> algorithm_from_name(const Name& name) {
  for (const auto& a : kAlgorithms)
    if (name == algorithm_name(a.algorithm)) return a.algorithm;
  return std::nullopt;
}

inline uint16_t get16(std::span<const uint8_t> p, size_t at) { return static_cast<uint16_t>(p[at] << 8 | p[at + 1]); }
inline uint64_t get48(std::span<const uint8_t> p, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 6; ++i) v = v << 8 | p[at + i];
  return v;
}
inline uint8_t* put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
  return p + 2;
}
inline uint8_t* put48(uint8_t* p, uint64_t v) {
  for (int i = 5; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (8 * i));
  return p;
}
inline uint8_t* put_bytes(uint8_t* p, std::span<const uint8_t> bytes) {
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

// The fields of a TSIG record (RFC 8945 §4.2).
struct Fields {
  Name key_name;
  Name algorithm;
  uint64_t time_signed = 0;
  uint16_t fudge = kDefaultFudge;
  std::span<const uint8_t> mac;
  uint16_t original_id = 0;
  uint16_t error = 0;
  std::span<const uint8_t> other;
};

// Reads the TSIG record at `offset` of `message`, which must end exactly at the
// message's end (the last record, RFC 8945 §5.1).
bool read_record(std::span<const uint8_t> message, size_t offset, Fields& out) {
  if (!read_name(message, offset, out.key_name) || offset + 10 > message.size()) return false;
  if (get16(message, offset) != kType || get16(message, offset + 2) != rrclass::ANY) return false;
  const size_t end = offset + 10 + get16(message, offset + 8);
  if (end != message.size()) return false;
  size_t pos = offset + 10;
  if (!read_name(message, pos, out.algorithm) || pos + 10 > end) return false;
  out.time_signed = get48(message, pos);
  out.fudge = get16(message, pos + 6);
  const size_t mac_size = get16(message, pos + 8);
  pos += 10;
  if (pos + mac_size + 6 > end) return false;
  out.mac = message.subspan(pos, mac_size);
  pos += mac_size;
  out.original_id = get16(message, pos);
  out.error = get16(message, pos + 2);
  const size_t other_size = get16(message, pos + 4);
  pos += 6;
  if (pos + other_size != end) return false;
  out.other = message.subspan(pos, other_size);
  out.key_name.to_lower();
  out.algorithm.to_lower();
  return true;
}

// The wire size of a TSIG record with these names and sizes.
size_t record_size(const Name& key_name, const Name& algorithm, size_t mac_size, size_t other_size) {
  return key_name.size() + 10 + algorithm.size() + 10 + mac_size + 6 + other_size;
}

// Writes the record uncompressed (RFC 8945 §4.2: class ANY, TTL 0).
constexpr size_t kMaxRecord = 2 * kMaxNameLength + 10 + 10 + kMaxMacSize + 6 + 6;
size_t write_record(const Fields& f, std::array<uint8_t, kMaxRecord>& out) {
  uint8_t* p = put_bytes(out.data(), f.key_name.wire());
  p = put16(p, kType);
  p = put16(p, rrclass::ANY);
  p = put16(p, 0);
  p = put16(p, 0);
  uint8_t* rdlength = p;
  p += 2;
  p = put_bytes(p, f.algorithm.wire());
  p = put48(p, f.time_signed);
  p = put16(p, f.fudge);
  p = put16(p, static_cast<uint16_t>(f.mac.size()));
  p = put_bytes(p, f.mac);
  p = put16(p, f.original_id);
  p = put16(p, f.error);
  p = put16(p, static_cast<uint16_t>(f.other.size()));
  p = put_bytes(p, f.other);
  put16(rdlength, static_cast<uint16_t>(p - rdlength - 2));
  return static_cast<size_t>(p - out.data());
}

// An HMAC computation (OpenSSL EVP_MAC).
class Hmac {
 public:
  Hmac(const Key& key) : ctx_(EVP_MAC_CTX_new(mac()), EVP_MAC_CTX_free), size_(info(key.algorithm).mac_size) {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(info(key.algorithm).digest), 0),
        OSSL_PARAM_construct_end()};
    ok_ = ctx_ && EVP_MAC_init(ctx_.get(), key.secret.data(), key.secret.size(), params) == 1;
  }
  void update(std::span<const uint8_t> bytes) {
    if (ok_ && !bytes.empty()) ok_ = EVP_MAC_update(ctx_.get(), bytes.data(), bytes.size()) == 1;
  }
  void update16(uint16_t v) {
    uint8_t b[2];
    put16(b, v);
    update(b);
  }
  void update48(uint64_t v) {
    uint8_t b[6];
    put48(b, v);
    update(b);
  }
  // A MAC as it precedes a message in the digest (RFC 8945 §4.3.1, §4.3.2): its size, then it.
  void update_mac(std::span<const uint8_t> mac) {
    update16(static_cast<uint16_t>(mac.size()));
    update(mac);
  }
  // The message without its TSIG: the header with ARCOUNT less `tsig_records` and the ID
  // as the original ID (RFC 8945 §4.3.3, §5.4), then the rest up to the TSIG.
  void update_message(std::span<const uint8_t> message, uint16_t original_id, uint16_t tsig_records) {
    uint8_t header[kHeaderSize];
    std::memcpy(header, message.data(), kHeaderSize);
    put16(header, original_id);
    put16(header + 10, static_cast<uint16_t>(get16(message, 10) - tsig_records));
    update(header);
    update(message.subspan(kHeaderSize));
  }
  // The TSIG variables (RFC 8945 §4.3.3), names in canonical (lowercase) form.
  void update_variables(const Fields& f) {
    update(f.key_name.wire());
    update16(rrclass::ANY);
    update16(0);
    update16(0);  // TTL
    update(f.algorithm.wire());
    update_timers(f);
    update16(f.error);
    update16(static_cast<uint16_t>(f.other.size()));
    update(f.other);
  }
  // The timers alone (RFC 8945 §4.3.1: the later messages of a multi-message answer).
  void update_timers(const Fields& f) {
    update48(f.time_signed);
    update16(f.fudge);
  }
  // The MAC; its size is 0 when OpenSSL failed.
  size_t finish(uint8_t (&out)[kMaxMacSize]) {
    size_t written = 0;
    if (!ok_ || EVP_MAC_final(ctx_.get(), out, &written, kMaxMacSize) != 1 || written != size_) return 0;
    return written;
  }

 private:
  static EVP_MAC* mac() {
    static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    return hmac;
  }
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx_;
  size_t size_;
  bool ok_ = false;
};

bool macs_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool time_ok(uint64_t time_signed, uint16_t fudge, int64_t now) {
  const int64_t signed_at = static_cast<int64_t>(time_signed);
  return now >= signed_at - fudge && now <= signed_at + fudge;
}

// Offset of the last record of a message, or nullopt when the message does not parse.
std::optional<size_t> last_record(std::span<const uint8_t> message) {
  if (message.size() < kHeaderSize) return std::nullopt;
  size_t pos = kHeaderSize;
  Name ignored;
  for (uint16_t i = get16(message, 4); i > 0; --i) {
    if (!read_name(message, pos, ignored) || pos + 4 > message.size()) return std::nullopt;
    pos += 4;
  }
  const size_t records = size_t{get16(message, 6)} + get16(message, 8) + get16(message, 10);
  std::optional<size_t> last;
  for (size_t i = 0; i < records; ++i) {
    last = pos;
    if (!read_name(message, pos, ignored) || pos + 10 > message.size()) return std::nullopt;
    pos += 10 + get16(message, pos + 8);
    if (pos > message.size()) return std::nullopt;
  }
  if (pos != message.size()) return std::nullopt;
  return last;
}

Fields our_fields(const Key& key, int64_t now, uint16_t original_id) {
  Fields f;
  f.key_name = key.name.lowered();  // canonical form (RFC 8945 §4.3.3)
  f.algorithm = algorithm_name(key.algorithm);
  f.time_signed = static_cast<uint64_t>(now);
  f.original_id = original_id;
  return f;
}

// Signs a finished response and appends its TSIG (`prior_mac` is the request's MAC for
// the first message; `full_variables` false for the later ones of a multi-message
// answer, RFC 8945 §4.3.1).
bool append_signature(ResponseWriter& response, const Key& key, Fields& fields, std::span<const uint8_t> prior_mac,
                      bool full_variables, uint8_t (&mac)[kMaxMacSize], size_t& mac_size) {
  const auto message = response.finish();
  Hmac hmac(key);
  hmac.update_mac(prior_mac);
  hmac.update_message(message, fields.original_id, 0);
  if (full_variables)
    hmac.update_variables(fields);
  else
    hmac.update_timers(fields);
  mac_size = hmac.finish(mac);
  if (mac_size == 0) return false;
  fields.mac = {mac, mac_size};
  std::array<uint8_t, kMaxRecord> record;
  return response.append_after_finish({record.data(), write_record(fields, record)});
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::optional<Algorithm> algorithm_from_text(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  for (const auto& a : kAlgorithms)
    if (text.size() == a.text.size() && std::equal(text.begin(), text.end(), a.text.begin(), [](char x, char y) {
          return (x >= 'A' && x <= 'Z' ? x + 32 : x) == y;
        }))
      return a.algorithm;
  return std::nullopt;
}

const Name& algorithm_name(Algorithm algorithm) {
  static const std::array<Name, std::size(kAlgorithms)> names = [] {
    std::array<Name, std::size(kAlgorithms)> built;
    for (size_t i = 0; i < built.size(); ++i) built[i] = *Name::from_text(std::string(kAlgorithms[i].text) + ".");
    return built;
  }();
  return names[static_cast<size_t>(algorithm)];
}

std::optional<std::vector<uint8_t>> decode_secret(std::string_view base64) {
  // RFC 4648 §4: groups of four characters, '=' padding only at the end.
  if (base64.empty() || base64.size() % 4 != 0) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(base64.size() / 4 * 3);
  for (size_t i = 0; i < base64.size(); i += 4) {
    const bool last = i + 4 == base64.size();
    int v[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = base64[i + k];
      if (c == '=' && last && k >= 2 && (k == 3 || base64[i + 3] == '=')) {
        v[k] = 0;
        ++padding;
        continue;
      }
      v[k] = base64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const uint32_t group = static_cast<uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out.push_back(static_cast<uint8_t>(group >> 16));
    if (padding < 2) out.push_back(static_cast<uint8_t>(group >> 8));
    if (padding < 1) out.push_back(static_cast<uint8_t>(group));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

Check verify_request(const Request& request, std::span<const Key> keys, int64_t now) {
  Check check;
  if (request.tsig_offset == 0) return check;
  check.present = true;
  Fields f;
  if (!read_record(request.packet, request.tsig_offset, f)) {
    check.error = Error::BadSig;  // the decoder checked the layout: not reached
    return check;
  }
  check.key_name = f.key_name;
  check.time_signed = f.time_signed;
  check.fudge = f.fudge;
  check.original_id = f.original_id;
  check.mac_size = std::min(f.mac.size(), kMaxMacSize);
  std::memcpy(check.mac, f.mac.data(), check.mac_size);

  // RFC 8945 §5.2.1: an unknown key or algorithm is BADKEY.
  const auto algorithm = algorithm_from_name(f.algorithm);
  const Key* key = nullptr;
  if (algorithm) {
    check.algorithm = *algorithm;
    for (const auto& k : keys)
      if (k.algorithm == *algorithm && k.name == f.key_name) key = &k;
  }
  if (!key) {
    check.error = Error::BadKey;
    return check;
  }
  // §5.2.2.1: we accept no truncated MAC (a local policy of full length).
  const size_t full = info(key->algorithm).mac_size;
  if (f.mac.size() < full) {
    check.error = f.mac.size() >= std::max<size_t>(10, full / 2) ? Error::BadTrunc : Error::BadSig;
    return check;
  }
  // §5.2.2: the MAC over the request without its TSIG and the TSIG variables.
  Hmac hmac(*key);
  hmac.update_message(request.packet.first(request.tsig_offset), f.original_id, 1);
  hmac.update_variables(f);
  uint8_t mac[kMaxMacSize];
  const size_t mac_size = hmac.finish(mac);
  if (!macs_equal({mac, mac_size}, f.mac)) {
    check.error = Error::BadSig;
    return check;
  }
  // §5.2.3: checked after the MAC, so that BADTIME answers only a genuine request.
  check.key = key;
  if (!time_ok(f.time_signed, f.fudge, now)) check.error = Error::BadTime;
  return check;
}

ResponseSigner::ResponseSigner(const Check& check)
    : key_(check.key), original_id_(check.original_id), prior_mac_size_(check.mac_size) {
  std::memcpy(prior_mac_, check.mac, prior_mac_size_);
}

size_t ResponseSigner::record_size() const {
  if (!key_) return 0;
  return tsig::record_size(key_->name, algorithm_name(key_->algorithm), info(key_->algorithm).mac_size, 0);
}

void ResponseSigner::reserve(ResponseWriter& response) const { response.reserve_tail(record_size()); }

bool ResponseSigner::sign(ResponseWriter& response, int64_t now) {
  if (!key_) return false;  // a request that did not verify gets write_error_response
  Fields fields = our_fields(*key_, now, original_id_);
  uint8_t mac[kMaxMacSize];
  size_t mac_size = 0;
  if (!append_signature(response, *key_, fields, {prior_mac_, prior_mac_size_}, first_, mac, mac_size)) return false;
  std::memcpy(prior_mac_, mac, mac_size);
  prior_mac_size_ = mac_size;
  first_ = false;
  return true;
}

void write_error_response(ResponseWriter& response, const Check& check, int64_t now) {
  Fields fields;
  fields.key_name = check.key_name;
  fields.algorithm = algorithm_name(check.algorithm);
  fields.original_id = check.original_id;
  fields.error = static_cast<uint16_t>(check.error);
  const bool signed_answer = check.error == Error::BadTime && check.key;
  // §5.2.3: BADTIME carries the server's time in Other Data, beside the request's time.
  uint8_t server_time[6];
  put48(server_time, static_cast<uint64_t>(now));
  if (signed_answer) {
    fields.time_signed = check.time_signed;
    fields.other = server_time;
  } else {
    fields.time_signed = static_cast<uint64_t>(now);
  }
  response.reserve_tail(
      record_size(fields.key_name, fields.algorithm, signed_answer ? info(check.algorithm).mac_size : 0, 6));
  response.start(static_cast<Rcode>(kNotAuth), false);
  if (signed_answer) {
    uint8_t mac[kMaxMacSize];
    size_t mac_size = 0;
    append_signature(response, *check.key, fields, {check.mac, check.mac_size}, true, mac, mac_size);
    return;
  }
  // §5.3.2: an error about the key or the MAC is answered unsigned (MAC size 0).
  response.finish();
  std::array<uint8_t, kMaxRecord> record;
  response.append_after_finish({record.data(), write_record(fields, record)});
}

SignedRequest sign_request(std::vector<uint8_t>& message, const Key& key, int64_t now) {
  SignedRequest signed_request;
  if (message.size() < kHeaderSize) return signed_request;
  Fields fields = our_fields(key, now, get16(message, 0));
  Hmac hmac(key);
  hmac.update(message);
  hmac.update_variables(fields);
  signed_request.mac_size = hmac.finish(signed_request.mac);
  fields.mac = {signed_request.mac, signed_request.mac_size};
  std::array<uint8_t, kMaxRecord> record;
  const size_t size = write_record(fields, record);
  message.insert(message.end(), record.begin(), record.begin() + static_cast<std::ptrdiff_t>(size));
  put16(message.data() + 10, static_cast<uint16_t>(get16(message, 10) + 1));
  return signed_request;
}

Error verify_response(std::span<const uint8_t> response, const Key& key, const SignedRequest& request, int64_t now) {
  const auto last = last_record(response);
  Fields f;
  if (!last || get16(response, 10) == 0 || !read_record(response, *last, f)) return Error::BadSig;
  if (!(f.key_name == key.name) || !(f.algorithm == algorithm_name(key.algorithm))) return Error::BadKey;
  // The server's own verdict on our request (§5.3.2: BADKEY and BADSIG come unsigned).
  if (f.error != 0) return static_cast<Error>(f.error);
  Hmac hmac(key);
  hmac.update_mac({request.mac, request.mac_size});
  hmac.update_message(response.first(*last), f.original_id, 1);
  hmac.update_variables(f);
  uint8_t mac[kMaxMacSize];
  const size_t mac_size = hmac.finish(mac);
  if (!macs_equal({mac, mac_size}, f.mac)) return Error::BadSig;
  if (!time_ok(f.time_signed, f.fudge, now)) return Error::BadTime;
  return Error::None;
}

}  // namespace stsd::dns::tsig
