#include "transfer_plugin.h"

#include "acl.h"
#include "dns/edns.h"
#include "dns/types.h"
#include "transfer_stream.h"

namespace stsd::transfer {

namespace {

bool is_transfer(uint16_t type) { return type == dns::rrtype::AXFR || type == dns::rrtype::IXFR; }

const dns::tsig::Key* verified_key(const dns::tsig::Check& check) {
  return check.present && check.error == dns::tsig::Error::None ? check.key : nullptr;
}

}  // namespace

TransferPlugin::TransferPlugin(std::shared_ptr<const TransferSettings> settings, std::shared_ptr<Tracker> tracker)
    : settings_(std::move(settings)), tracker_(std::move(tracker)), catalog_(settings_->tracker.catalog) {}

void TransferPlugin::serve(Query& query, Next next) const {
  const dns::Request& request = query.request;
  if (!request.has_question || !tracker_) return next(query);
  if (is_transfer(request.question.type)) return serve_transfer(query, next);
  if (request.tsig_offset != 0) return serve_signed(query, next);
  serve_query(query, next);
}

void TransferPlugin::serve_query(Query& query, Next next) const {
  const dns::Request& request = query.request;
  if (catalog_ && request.question.rclass == dns::rrclass::IN && request.question.name.is_subdomain_of(*catalog_)) {
    auto catalog = tracker_->catalog();
    if (catalog && catalog->apex() == *catalog_) return catalog->answer(request, query.response);
  }
  next(query);
}

// A secondary signs the SOA query it sends before each transfer with the primary's key
// and discards an unsigned answer (BIND: "refresh: failure ...: expected a TSIG or
// SIG(0)"), so it would never transfer. The answer to a signed request carries the TSIG
// error or is signed with the same key (RFC 8945 §5.2, §5.3), whichever plugin wrote it.
void TransferPlugin::serve_signed(Query& query, Next next) const {
  const dns::tsig::Check check = dns::tsig::verify_request(query.request, settings_->keys, tsig_now());
  if (check.error != dns::tsig::Error::None) return dns::tsig::write_error_response(query.response, check, tsig_now());
  dns::tsig::ResponseSigner signer(check);
  signer.reserve(query.response);
  serve_query(query, next);
  // The room was reserved, so only an answer that already overflowed cannot take the
  // TSIG; the client then discards it as it would an unsigned one.
  signer.sign(query.response, tsig_now());
}

void TransferPlugin::serve_transfer(Query& query, Next next) const {
  const dns::Request& request = query.request;
  const dns::Name& apex = request.question.name;
  const Journal& journal = tracker_->journal();
  // A zone nobody here offers: the rest of the chain (or the core's REFUSED) answers.
  auto current = journal.current(apex);
  if (!current || request.question.rclass != dns::rrclass::IN) return next(query);

  dns::tsig::Check check;
  if (request.tsig_offset != 0) {
    check = dns::tsig::verify_request(request, settings_->keys, tsig_now());
    if (check.error != dns::tsig::Error::None) {
      tracker_->counters().refused[TransferCounters::Tsig].fetch_add(1, std::memory_order_relaxed);
      return dns::tsig::write_error_response(query.response, check, tsig_now());
    }
  }
  if (!transfer_allowed(settings_->allow, request.client, verified_key(check)))
    return refuse(query, check, dns::Rcode::Refused, TransferCounters::Acl);

  const bool udp = request.transport == dns::Transport::Udp;
  if (request.question.type == dns::rrtype::AXFR) {
    // RFC 5936 §4.2: AXFR is TCP only; Knot answers it over UDP with NOTIMP.
    if (udp) return refuse(query, check, dns::Rcode::NotImp, TransferCounters::AxfrOverUdp);
    return send(query, check, full_transfer(std::move(current)), TransferCounters::Axfr);
  }

  // RFC 1995 §3: the client's SOA in the authority section says what it holds.
  if (!request.ixfr_serial) return refuse(query, check, dns::Rcode::FormErr, std::nullopt);
  tracker_->secondary_has(request.client, apex, *request.ixfr_serial);
  IxfrPlan plan = journal.plan_ixfr(apex, *request.ixfr_serial);
  if (!plan.current) return next(query);  // removed meanwhile
  switch (plan.kind) {
    case IxfrPlan::Kind::UpToDate:
      return send(query, check, soa_only(std::move(plan.current)), TransferCounters::UpToDate);
    case IxfrPlan::Kind::Incremental:
      return send(query, check, incremental_transfer(std::move(plan.current), std::move(plan.diffs)),
                  udp ? TransferCounters::IxfrUdp : TransferCounters::Ixfr);
    case IxfrPlan::Kind::Full:
      return send(query, check, full_transfer(std::move(plan.current)),
                  udp ? TransferCounters::IxfrUdp : TransferCounters::Axfr);
  }
}

void TransferPlugin::send(Query& query, const dns::tsig::Check& check, TransferRecords records,
                          TransferCounters::Kind kind) const {
  const dns::Request& request = query.request;
  std::optional<dns::tsig::ResponseSigner> signer;
  if (verified_key(check)) signer.emplace(check);
  // RFC 1995 §2: over UDP the answer is the differences when they fit in one message,
  // else the single current SOA (the client then asks again over TCP).
  if (request.transport == dns::Transport::Udp) {
    const size_t tsig_room = signer ? signer->record_size() : 0;
    if (!fits_in_one_message(records, query.response, request.max_response_size(), tsig_room)) {
      records = soa_only(std::move(records.current));
      kind = TransferCounters::IxfrUdpTooLarge;
    }
  }
  const uint32_t serial = records.current->serial;
  auto done = [tracker = tracker_, client = request.client, apex = request.question.name, serial, kind](
                  size_t messages, size_t octets) {
    auto& counters = tracker->counters();
    counters.transfers[kind].fetch_add(1, std::memory_order_relaxed);
    counters.messages.fetch_add(messages, std::memory_order_relaxed);
    counters.bytes.fetch_add(octets, std::memory_order_relaxed);
    tracker->secondary_has(client, apex, serial);
  };
  auto failed = [tracker = tracker_] { tracker->counters().failed.fetch_add(1, std::memory_order_relaxed); };
  auto writer = std::make_unique<TransferWriter>(std::move(records), std::move(signer), std::move(done));
  switch (writer->write_message(query.response)) {
    case TransferWriter::Result::Done:
      return;
    case TransferWriter::Result::More:
      if (query.more) {
        *query.more = std::make_unique<TransferStream>(std::move(writer), std::move(failed));
        return;
      }
      break;  // a transport that cannot carry several messages
    case TransferWriter::Result::Failed:
      break;
  }
  failed();
  query.response.start(dns::Rcode::ServFail, false);
}

void TransferPlugin::refuse(Query& query, const dns::tsig::Check& check, dns::Rcode rcode,
                            std::optional<TransferCounters::Refusal> reason) const {
  if (reason) tracker_->counters().refused[*reason].fetch_add(1, std::memory_order_relaxed);
  query.response.start(rcode, false);
  // RFC 8914 §4.19: refused by policy. Added before the TSIG, which covers the OPT.
  if (reason == TransferCounters::Acl)
    query.response.add_extended_error(dns::extended_error::Prohibited, "transfer not allowed");
  // RFC 8945 §5.3: the answer to a request whose TSIG verified is signed, refusals too.
  if (verified_key(check)) dns::tsig::ResponseSigner(check).sign(query.response, tsig_now());
}

}  // namespace stsd::transfer
