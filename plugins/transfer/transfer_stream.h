#pragma once
// Writing a zone transfer's records into DNS messages: AXFR (RFC 5936 §2.2: the SOA,
// every other record, the SOA again) and IXFR (RFC 1995 §4: the new SOA, then per
// difference the old SOA with what it loses and the new SOA with what it gains, then
// the new SOA again). Over TCP the records run across as many messages as they need,
// each filled up to the 64 KiB a message can hold, as Knot does, and each signed when
// the request was (RFC 8945 §5.3.1).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "dns/tsig.h"
#include "dns/writer.h"
#include "journal.h"
#include "plugin.h"

namespace stsd::transfer {

// The records of one answer, in order: runs of wire records, with what keeps them alive.
struct TransferRecords {
  std::vector<std::span<const uint8_t>> runs;
  std::shared_ptr<const ZoneVersion> current;
  std::vector<std::shared_ptr<const ZoneDiff>> diffs;

  size_t octets() const;  // uncompressed: an upper bound on what they take in messages
};
// The whole zone (AXFR, and IXFR from an unknown serial: RFC 1995 §4).
TransferRecords full_transfer(std::shared_ptr<const ZoneVersion> current);
// The differences from the client's serial to `current`.
TransferRecords incremental_transfer(std::shared_ptr<const ZoneVersion> current,
                                     std::vector<std::shared_ptr<const ZoneDiff>> diffs);
// The single current SOA (up to date, or an IXFR over UDP that does not fit: RFC 1995 §2).
TransferRecords soa_only(std::shared_ptr<const ZoneVersion> current);

// Fills messages from a TransferRecords, signing each when a signer is given.
class TransferWriter {
 public:
  // Called once, after the last message was written (a whole answer went out).
  using Done = std::function<void(size_t messages, size_t octets)>;

  TransferWriter(TransferRecords records, std::optional<dns::tsig::ResponseSigner> signer, Done done);

  enum class Result { More, Done, Failed };
  // Starts `response` (NOERROR, AA) and writes the next records that fit, finishes and
  // signs it. Failed: a record larger than a message, or the signature did not fit.
  Result write_message(dns::ResponseWriter& response);
 private:
  TransferRecords records_;
  std::optional<dns::tsig::ResponseSigner> signer_;
  size_t tsig_room_;
  Done done_;
  size_t run_ = 0;
  size_t offset_ = 0;
  size_t messages_ = 0;
  size_t octets_ = 0;
};

// The messages after the first over TCP (plugin.h).
class TransferStream final : public ResponseStream {
 public:
  explicit TransferStream(std::unique_ptr<TransferWriter> writer, std::function<void()> failed)
      : writer_(std::move(writer)), failed_(std::move(failed)) {}
  bool next(dns::ResponseWriter& response) override;

 private:
  std::unique_ptr<TransferWriter> writer_;
  std::function<void()> failed_;
};

// Whether all of `records` fit in the one message `response` (begun) may be, with room for
// a TSIG record of `tsig_room` octets: checked before writing, so that an IXFR over UDP can
// fall back to the single SOA (RFC 1995 §2).
bool fits_in_one_message(const TransferRecords& records, const dns::ResponseWriter& response, size_t max_size,
                         size_t tsig_room);

// Unix seconds for TSIG: the server's real clock (RFC 8945 §5.2.3), whatever clock the
// zones' serials follow (a test clock moves those).
int64_t tsig_now();

}  // namespace stsd::transfer
