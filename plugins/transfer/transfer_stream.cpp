#include "transfer_stream.h"

#include <chrono>
#include <stdexcept>

#include "wire_records.h"

namespace stsd::transfer {

namespace {

constexpr size_t kOptRoom = 11;  // the OPT record the core adds (RFC 6891 §6.1.2)

std::span<const uint8_t> soa_of(const ZoneVersion& version) { return first_record(version.records).whole; }

std::span<const uint8_t> body_of(const ZoneVersion& version) {
  return std::span<const uint8_t>(version.records).subspan(soa_of(version).size());
}

size_t room_needed(const dns::ResponseWriter& response, size_t tsig) {
  const dns::Request* request = response.request();
  return tsig + (request && request->edns.present ? kOptRoom : 0);
}

}  // namespace

int64_t tsig_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

size_t TransferRecords::octets() const {
  size_t total = 0;
  for (const auto& run : runs) total += run.size();
  return total;
}

TransferRecords full_transfer(std::shared_ptr<const ZoneVersion> current) {
  TransferRecords records;
  records.runs = {soa_of(*current), body_of(*current), soa_of(*current)};
  records.current = std::move(current);
  return records;
}

TransferRecords incremental_transfer(std::shared_ptr<const ZoneVersion> current,
                                     std::vector<std::shared_ptr<const ZoneDiff>> diffs) {
  TransferRecords records;
  records.runs.push_back(soa_of(*current));
  for (const auto& diff : diffs) {
    records.runs.push_back(diff->removed);
    records.runs.push_back(diff->added);
  }
  records.runs.push_back(soa_of(*current));
  records.current = std::move(current);
  records.diffs = std::move(diffs);
  return records;
}

TransferRecords soa_only(std::shared_ptr<const ZoneVersion> current) {
  TransferRecords records;
  records.runs = {soa_of(*current)};
  records.current = std::move(current);
  return records;
}

TransferWriter::TransferWriter(TransferRecords records, std::optional<dns::tsig::ResponseSigner> signer, Done done)
    : records_(std::move(records)),
      signer_(std::move(signer)),
      tsig_room_(signer_ ? signer_->record_size() : 0),
      done_(std::move(done)) {}

bool fits_in_one_message(const TransferRecords& records, const dns::ResponseWriter& response, size_t max_size,
                         size_t tsig_room) {
  return response.size() + records.octets() + room_needed(response, tsig_room) <= max_size;
}

TransferWriter::Result TransferWriter::write_message(dns::ResponseWriter& response) {
  const dns::Request* request = response.request();
  const size_t max_size = request ? request->max_response_size() : dns::ResponseWriter::kMaxMessage;
  const size_t reserve = room_needed(response, tsig_room_);
  response.start(dns::Rcode::NoError, true);
  if (signer_) signer_->reserve(response);
  bool wrote = false;
  while (run_ < records_.runs.size()) {
    const auto run = records_.runs[run_];
    size_t offset = offset_;
    WireRecord record;
    if (!next_record(run, offset, record)) {
      ++run_;
      offset_ = 0;
      continue;
    }
    if (response.size() + wire_size(record) + reserve > max_size) {
      if (!wrote) return Result::Failed;  // one record larger than a message
      break;
    }
    if (!add_to_response(response, dns::Section::Answer, record)) return Result::Failed;
    wrote = true;
    offset_ = offset;
  }
  if (signer_) {
    if (!signer_->sign(response, tsig_now())) return Result::Failed;
  } else {
    response.finish();
  }
  ++messages_;
  octets_ += response.size();
  if (run_ < records_.runs.size()) return Result::More;
  if (done_) done_(messages_, octets_);
  return Result::Done;
}

bool TransferStream::next(dns::ResponseWriter& response) {
  if (!writer_) return false;  // the last message went out: the answer is complete
  const auto result = writer_->write_message(response);
  if (result == TransferWriter::Result::Failed) {
    writer_.reset();
    if (failed_) failed_();
    // The core closes the connection: the client sees a transfer without its closing
    // SOA and discards it (RFC 5936 §2.2), rather than waiting for the rest.
    throw std::runtime_error("a zone transfer record does not fit in a message");
  }
  if (result == TransferWriter::Result::Done) writer_.reset();
  return true;
}

}  // namespace stsd::transfer
