#pragma once
// The `transfer` plugin: zone transfers (AXFR, RFC 5936; IXFR, RFC 1995) of every zone
// any zone::Source serves and of the catalog zone, to the secondaries the ACL allows
// (TSIG, RFC 8945), and answers to queries inside the catalog zone. Every other query
// goes on down the chain at the cost of two comparisons.
#include <memory>
#include <optional>
#include <string_view>

#include "plugin.h"
#include "tracker.h"
#include "transfer_config.h"
#include "transfer_stream.h"

namespace stsd::transfer {

class TransferPlugin final : public Plugin {
 public:
  // `tracker` null under --check-config (nothing is served then).
  TransferPlugin(std::shared_ptr<const TransferSettings> settings, std::shared_ptr<Tracker> tracker);

  std::string_view name() const override { return "transfer"; }
  void serve(Query& query, Next next) const override;

 private:
  void serve_transfer(Query& query, Next next) const;
  // Writes the answer (first message into the response, the rest into query.more).
  void send(Query& query, const dns::tsig::Check& check, TransferRecords records, TransferCounters::Kind kind) const;
  // An answer without records; `reason` counts it as a refusal.
  void refuse(Query& query, const dns::tsig::Check& check, dns::Rcode rcode,
              std::optional<TransferCounters::Refusal> reason) const;

  const std::shared_ptr<const TransferSettings> settings_;
  const std::shared_ptr<Tracker> tracker_;
  const std::optional<dns::Name> catalog_;
};

}  // namespace stsd::transfer
