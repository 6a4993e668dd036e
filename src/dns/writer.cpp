#include "dns/writer.h"

#include <cstring>

#include "dns/edns.h"
#include <optional>

namespace stsd::dns {
namespace {
constexpr size_t kOptSize = 11;  // root owner, type, class, ttl, rdlength=0

inline uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Length of the uncompressed wire name at the start of `wire`, if well formed.
std::optional<size_t> name_length(std::span<const uint8_t> wire) {
  size_t pos = 0;
  while (pos < wire.size()) {
    uint8_t len = wire[pos];
    if (len == 0) return pos + 1;
    if (len > kMaxLabelLength) return std::nullopt;
    pos += 1 + len;
  }
  return std::nullopt;
}
}  // namespace

void ResponseWriter::put16(size_t at, uint16_t v) {
  buf_[at] = static_cast<uint8_t>(v >> 8);
  buf_[at + 1] = static_cast<uint8_t>(v);
}

void ResponseWriter::begin(const Request& request, size_t max_size, uint16_t our_udp_size) {
  request_ = &request;
  our_udp_size_ = our_udp_size;
  counts_[0] = counts_[1] = counts_[2] = 0;
  section_ = 0;
  rcode_ = Rcode::NoError;
  answered_ = truncated_ = finished_ = dropped_ = false;
  target_count_ = 0;
  options_size_ = 0;
  if (max_size > kMaxMessage) max_size = kMaxMessage;
  if (max_size > buf_.size()) max_size = buf_.size();

  put16(0, request.id);
  // QR; opcode, RD and CD copied from the query (RFC 1035 §4.1.1, RFC 4035 §3.1.6).
  const uint16_t copied = request.flags & (0x7800 | flag::RD | flag::CD);
  put16(2, flag::QR | copied);
  put16(4, request.has_question ? 1 : 0);
  put16(6, 0);
  put16(8, 0);
  put16(10, 0);
  pos_ = kHeaderSize;
  if (request.has_question) {
    // The client's letter case is echoed (RFC 1035 §7.3; resolvers using 0x20 check it).
    const auto qname = request.question.original.wire();
    std::memcpy(buf_.data() + pos_, qname.data(), qname.size());
    remember_name(pos_, qname);
    pos_ += qname.size();
    put16(pos_, request.question.type);
    put16(pos_ + 2, request.question.rclass);
    pos_ += 4;
  }
  question_end_ = pos_;
  max_size_ = max_size;
  const size_t reserve = request.edns.present ? kOptSize : 0;
  limit_ = max_size > reserve ? max_size - reserve : 0;
  if (limit_ < question_end_) limit_ = question_end_;
}

bool ResponseWriter::add_option(uint16_t code, std::span<const uint8_t> data) {
  const size_t need = 4 + data.size();
  if (finished_ || !request_ || !request_->edns.present) return false;
  if (options_size_ + need > kMaxOptionOctets || limit_ < pos_ + need) return false;
  uint8_t* p = options_ + options_size_;
  p[0] = static_cast<uint8_t>(code >> 8);
  p[1] = static_cast<uint8_t>(code);
  p[2] = static_cast<uint8_t>(data.size() >> 8);
  p[3] = static_cast<uint8_t>(data.size());
  if (!data.empty()) std::memcpy(p + 4, data.data(), data.size());
  options_size_ += need;
  limit_ -= need;
  return true;
}

bool ResponseWriter::add_extended_error(uint16_t info_code, std::string_view extra_text) {
  uint8_t data[2 + 128];
  const size_t text = extra_text.size() < 128 ? extra_text.size() : 128;
  data[0] = static_cast<uint8_t>(info_code >> 8);
  data[1] = static_cast<uint8_t>(info_code);
  if (text) std::memcpy(data + 2, extra_text.data(), text);
  return add_option(edns_option::EXTENDED_ERROR, {data, 2 + text});
}

void ResponseWriter::reserve_tail(size_t octets) {
  limit_ = limit_ > question_end_ + octets ? limit_ - octets : question_end_;
}

bool ResponseWriter::append_after_finish(std::span<const uint8_t> record) {
  if (!finished_ || pos_ + record.size() > max_size_) return false;
  std::memcpy(buf_.data() + pos_, record.data(), record.size());
  pos_ += record.size();
  put16(10, static_cast<uint16_t>((buf_[10] << 8 | buf_[11]) + 1));
  return true;
}

void ResponseWriter::rewind_to_question() {
  pos_ = question_end_;
  counts_[0] = counts_[1] = counts_[2] = 0;
  section_ = 0;
  // Compression targets past the question are gone with the records.
  size_t keep = 0;
  for (size_t i = 0; i < target_count_; ++i)
    if (targets_[i] < question_end_) targets_[keep++] = targets_[i];
  target_count_ = keep;
}

void ResponseWriter::start(Rcode rcode, bool authoritative) {
  rewind_to_question();
  answered_ = true;
  truncated_ = false;
  rcode_ = rcode;
  set_authoritative(authoritative);
}

void ResponseWriter::set_authoritative(bool aa) {
  uint16_t flags = static_cast<uint16_t>(buf_[2] << 8 | buf_[3]);
  flags = aa ? (flags | flag::AA) : (flags & ~flag::AA);
  put16(2, flags);
}

bool ResponseWriter::authoritative() const { return buf_[2] & (flag::AA >> 8); }

void ResponseWriter::remember_name(size_t offset, std::span<const uint8_t> wire) {
  // Each label start is a suffix later names can point to (pointers hold 14 bits).
  size_t pos = 0;
  while (pos < wire.size() && wire[pos] != 0 && (wire[pos] & 0xc0) == 0) {
    if (offset + pos >= 0x4000 || target_count_ >= kMaxCompressionTargets) return;
    targets_[target_count_++] = static_cast<uint16_t>(offset + pos);
    pos += 1 + wire[pos];
  }
}

bool ResponseWriter::find_suffix(std::span<const uint8_t> suffix, uint16_t& pointer) const {
  for (size_t t = 0; t < target_count_; ++t) {
    size_t at = targets_[t];
    size_t i = 0;
    bool match = true;
    // Compare label by label, following pointers already in the message.
    for (int hops = 0; match && hops < 128;) {
      uint8_t len = buf_[at];
      if ((len & 0xc0) == 0xc0) {
        at = static_cast<size_t>(len & 0x3f) << 8 | buf_[at + 1];
        ++hops;
        continue;
      }
      if (i >= suffix.size() || suffix[i] != len) {
        match = false;
        break;
      }
      if (len == 0) break;
      for (size_t k = 1; k <= len; ++k)
        if (lower(buf_[at + k]) != lower(suffix[i + k])) {
          match = false;
          break;
        }
      at += 1 + len;
      i += 1 + len;
    }
    if (match && i + 1 == suffix.size()) {
      pointer = static_cast<uint16_t>(0xc000 | targets_[t]);
      return true;
    }
  }
  return false;
}

bool ResponseWriter::write_name_wire(std::span<const uint8_t> wire, bool compress) {
  // Most owners are the question name itself: point at it (offset 12) without the
  // general suffix search.
  if (compress && request_ && question_end_ > kHeaderSize && wire.size() == request_->question.name.size() &&
      wire_names_equal(wire, request_->question.name.wire())) {
    if (pos_ + 2 > limit_) return false;
    put16(pos_, 0xc000 | kHeaderSize);
    pos_ += 2;
    return true;
  }
  size_t i = 0;
  while (i < wire.size()) {
    if (wire[i] == 0) {
      if (pos_ + 1 > limit_) return false;
      buf_[pos_++] = 0;
      return true;
    }
    uint16_t pointer;
    if (compress && find_suffix(wire.subspan(i), pointer)) {
      if (pos_ + 2 > limit_) return false;
      put16(pos_, pointer);
      pos_ += 2;
      return true;
    }
    const size_t label = 1 + wire[i];
    if (pos_ + label > limit_) return false;
    std::memcpy(buf_.data() + pos_, wire.data() + i, label);
    if (compress && pos_ < 0x4000 && target_count_ < kMaxCompressionTargets)
      targets_[target_count_++] = static_cast<uint16_t>(pos_);
    pos_ += label;
    i += label;
  }
  return false;  // no terminating root label: malformed
}

bool ResponseWriter::write_name(const Name& name, bool compress) { return write_name_wire(name.wire(), compress); }

bool ResponseWriter::write_rdata(uint16_t type, std::span<const uint8_t> rdata) {
  auto raw = [&](std::span<const uint8_t> bytes) {
    if (pos_ + bytes.size() > limit_) return false;
    if (!bytes.empty()) std::memcpy(buf_.data() + pos_, bytes.data(), bytes.size());
    pos_ += bytes.size();
    return true;
  };
  // RFC 3597 §4: compress names in the rdata of the RFC 1035 types only.
  switch (type) {
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR: {
      auto n = name_length(rdata);
      if (!n || *n != rdata.size()) return raw(rdata);
      return write_name_wire(rdata, true);
    }
    case rrtype::MX: {
      if (rdata.size() < 3) return raw(rdata);
      auto n = name_length(rdata.subspan(2));
      if (!n || *n + 2 != rdata.size()) return raw(rdata);
      return raw(rdata.first(2)) && write_name_wire(rdata.subspan(2), true);
    }
    case rrtype::SOA: {
      auto m = name_length(rdata);
      if (!m) return raw(rdata);
      auto r = name_length(rdata.subspan(*m));
      if (!r || *m + *r + 20 != rdata.size()) return raw(rdata);
      return write_name_wire(rdata.first(*m), true) && write_name_wire(rdata.subspan(*m, *r), true) &&
             raw(rdata.subspan(*m + *r));
    }
    default:
      return raw(rdata);
  }
}

bool ResponseWriter::add(Section section, const RecordRef& record, bool required) {
  const int s = static_cast<int>(section);
  if (finished_ || s < section_) return false;
  section_ = s;
  if (truncated_) return false;
  const size_t start = pos_;
  const size_t targets_before = target_count_;
  bool ok = write_name(record.owner, true) && pos_ + 10 <= limit_;
  if (ok) {
    put16(pos_, record.type);
    put16(pos_ + 2, record.rclass);
    buf_[pos_ + 4] = static_cast<uint8_t>(record.ttl >> 24);
    buf_[pos_ + 5] = static_cast<uint8_t>(record.ttl >> 16);
    buf_[pos_ + 6] = static_cast<uint8_t>(record.ttl >> 8);
    buf_[pos_ + 7] = static_cast<uint8_t>(record.ttl);
    pos_ += 10;
    const size_t rdata_start = pos_;
    ok = write_rdata(record.type, record.rdata) && pos_ - rdata_start <= 65535;
    if (ok) put16(rdata_start - 2, static_cast<uint16_t>(pos_ - rdata_start));
  }
  if (!ok) {
    pos_ = start;
    target_count_ = targets_before;
    // RFC 2181 §9: TC only when required data is missing; optional additional
    // records are simply left out.
    if (section != Section::Additional || required) truncated_ = true;
    return false;
  }
  ++counts_[s];
  return true;
}

std::span<const uint8_t> ResponseWriter::finish() {
  if (finished_) return {buf_.data(), pos_};
  if (dropped_) {
    finished_ = true;
    pos_ = 0;
    return {};
  }
  if (!answered_) {
    // No zone here holds the name. Knot 3.2 adds EDE 20 "Not Authoritative" (RFC 8914
    // §4.21), without text, to the same REFUSED.
    start(Rcode::Refused, false);
    add_extended_error(extended_error::NotAuthoritative);
  }
  uint16_t flags = static_cast<uint16_t>(buf_[2] << 8 | buf_[3]);
  if (truncated_) {
    rewind_to_question();
    flags |= flag::TC;
  }
  const uint16_t full_rcode = static_cast<uint16_t>(rcode_);
  flags = static_cast<uint16_t>((flags & ~0x000f) | (full_rcode & 0x0f));
  put16(2, flags);
  uint16_t arcount = counts_[2];
  if (request_ && request_->edns.present) {
    // OPT (RFC 6891 §6.1.2): our buffer size, the upper rcode bits, version 0, DO as
    // the query had it (RFC 3225 §3), then the options.
    uint8_t* p = buf_.data() + pos_;
    p[0] = 0;
    p[1] = 0;
    p[2] = rrtype::OPT;
    p[3] = static_cast<uint8_t>(our_udp_size_ >> 8);
    p[4] = static_cast<uint8_t>(our_udp_size_);
    p[5] = static_cast<uint8_t>(full_rcode >> 4);
    p[6] = 0;
    p[7] = request_->edns.dnssec_ok ? 0x80 : 0;
    p[8] = 0;
    p[9] = static_cast<uint8_t>(options_size_ >> 8);
    p[10] = static_cast<uint8_t>(options_size_);
    if (options_size_) std::memcpy(p + kOptSize, options_, options_size_);
    pos_ += kOptSize + options_size_;
    ++arcount;
  }
  put16(6, counts_[0]);
  put16(8, counts_[1]);
  put16(10, arcount);
  finished_ = true;
  return {buf_.data(), pos_};
}

std::span<const uint8_t> ResponseWriter::error_response(const Request& request, Rcode rcode, bool echo_question) {
  Request shown = request;
  shown.has_question = echo_question && request.has_question;
  // `shown` lives only during this call: clear the pointer after finishing.
  begin(shown, kMaxMessage, our_udp_size_);
  start(rcode, false);
  auto out = finish();
  request_ = nullptr;
  return out;
}

}  // namespace stsd::dns
