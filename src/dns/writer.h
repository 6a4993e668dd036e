#pragma once
// Encoding of responses, in explicit stages: header and question, then answer,
// authority and additional sections in that order, then OPT and truncation.
// Writes into a caller-supplied buffer; nothing here allocates.
#include <cstdint>
#include <span>
#include <string_view>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/types.h"

namespace stsd::dns {

// A resource record to write. `rdata` is uncompressed wire form; the writer compresses
// the names inside NS, CNAME, PTR, MX and SOA rdata (RFC 3597 §4: only those).
struct RecordRef {
  const Name& owner;
  uint16_t type;
  uint16_t rclass;
  uint32_t ttl;
  std::span<const uint8_t> rdata;
};

class ResponseWriter {
 public:
  static constexpr size_t kMaxMessage = 65535;

  // `buffer` must hold at least kMaxMessage octets and outlive the writer's use.
  explicit ResponseWriter(std::span<uint8_t> buffer) : buf_(buffer) {}

  // Core: starts a response to `request`, limited to `max_size` octets (see
  // Request::max_response_size). Copies ID, RD, CD and opcode; echoes the question.
  void begin(const Request& request, size_t max_size, uint16_t our_udp_size = kDefaultEdnsBuffer);

  // Plugins: claims the response and clears anything written after the question.
  // A plugin that answers calls this first.
  void start(Rcode rcode, bool authoritative);
  bool answered() const { return answered_; }

  // Appends a record to `section`. Sections must be filled in order (answer, then
  // authority, then additional); a record for an earlier section than the current one
  // is a programming error and is rejected (returns false).
  // When a record does not fit: in answer or authority the response will carry TC=1 and
  // no records; in additional the record is dropped (RFC 2181 §9) unless `required`
  // (glue a referral cannot work without, RFC 9471), which also sets TC.
  bool add(Section section, const RecordRef& record, bool required = false);

  // EDNS options for the response's OPT record (codes in edns.h). They belong to the
  // exchange (a cookie, NSID, keepalive), not to the answer: start() keeps them, begin()
  // clears them. False, adding nothing, when the query had no EDNS (RFC 6891 §7: no OPT
  // in the answer then) or when the option would not leave room for what is written.
  bool add_option(uint16_t code, std::span<const uint8_t> data);
  // RFC 8914 §2: an Extended DNS Error; `extra_text` is UTF-8 for humans, not parsed.
  bool add_extended_error(uint16_t info_code, std::string_view extra_text = {});

  // Nothing is sent for this query (rate limiting, an ACL that drops): finish() returns
  // an empty message. Any plugin may decide it, before or after the answer is written.
  void drop() { dropped_ = true; }
  bool dropped() const { return dropped_; }
  // The answer leaves with TC=1 and no records (RFC 1035 §4.1.1), so a real client
  // retries over TCP (RFC 7766 §5); the rcode and the EDNS options stay.
  void truncate() { truncated_ = true; }

  void set_rcode(Rcode rcode) { rcode_ = rcode; }
  Rcode rcode() const { return rcode_; }
  void set_authoritative(bool aa);
  bool authoritative() const;
  uint16_t count(Section section) const { return counts_[static_cast<int>(section)]; }
  bool truncated() const { return truncated_; }

  // Core (idempotent): REFUSED with EDE 20 when nobody answered, then OPT (when the query
  // had EDNS: our buffer size, the DO bit copied from the query as RFC 3225 §3 requires,
  // the options added) and the final counts. Returns the message, empty when dropped.
  std::span<const uint8_t> finish();
  bool finished() const { return finished_; }

  // Keeps `octets` free at the end of the message for a record appended after finish()
  // (TSIG, RFC 8945 §4.2), so that the records added meanwhile leave it room. Call after
  // begin(), before adding records; begin() releases it.
  void reserve_tail(size_t octets);
  // After finish(): appends one record in wire form as the last of the additional
  // section (after OPT) and counts it in ARCOUNT. False, with the message unchanged,
  // when it would exceed the message's size limit.
  bool append_after_finish(std::span<const uint8_t> record);
  // The message so far (after finish(): the message to send).
  std::span<const uint8_t> message() const { return {buf_.data(), pos_}; }

  // A header-only (plus question when decoded) response with `rcode`, used for
  // FORMERR/NOTIMP/BADVERS decided before the chain runs. It carries OPT when the query
  // had one that parsed (RFC 6891 §7: a responder that understands EDNS includes it).
  std::span<const uint8_t> error_response(const Request& request, Rcode rcode, bool echo_question);

  size_t size() const { return pos_; }
  const Request* request() const { return request_; }

 private:
  bool write_name(const Name& name, bool compress);
  bool write_name_wire(std::span<const uint8_t> wire, bool compress);
  bool write_rdata(uint16_t type, std::span<const uint8_t> rdata);
  void remember_name(size_t offset, std::span<const uint8_t> wire);
  bool find_suffix(std::span<const uint8_t> suffix, uint16_t& pointer) const;
  void put16(size_t at, uint16_t v);
  void rewind_to_question();

  std::span<uint8_t> buf_;
  const Request* request_ = nullptr;
  size_t pos_ = 0;
  size_t limit_ = 0;     // max_size less the room reserved for OPT and the tail
  size_t max_size_ = 0;  // the whole message's limit
  uint16_t our_udp_size_ = kDefaultEdnsBuffer;
  size_t question_end_ = 0;
  uint16_t counts_[3] = {0, 0, 0};
  int section_ = 0;
  Rcode rcode_ = Rcode::NoError;
  bool answered_ = false;
  bool truncated_ = false;
  bool finished_ = false;
  bool dropped_ = false;

  // The OPT record's options, in the order added (a cookie is 44 octets at most, NSID is
  // bounded by the config, an EDE by its text).
  static constexpr size_t kMaxOptionOctets = 512;
  uint8_t options_[kMaxOptionOctets];
  size_t options_size_ = 0;

  // Offsets of names already in the message, for compression (RFC 1035 §4.1.4).
  static constexpr size_t kMaxCompressionTargets = 128;
  uint16_t targets_[kMaxCompressionTargets];
  size_t target_count_ = 0;
};

}  // namespace stsd::dns
