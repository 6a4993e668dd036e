#include "tlsrpt/intake.h"

#include <stdexcept>

#include <zlib.h>

#include "logging.h"
#include "store/errors.h"
#include "utc_time.h"

namespace stsd::tlsrpt {

using nlohmann::json;

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::Stored: return "stored";
    case Outcome::Duplicate: return "duplicate";
    case Outcome::Malformed: return "malformed";
    case Outcome::TooLarge: return "too_large";
    case Outcome::MediaType: return "media_type";
    case Outcome::UnknownDomain: return "unknown_domain";
    case Outcome::StorageFull: return "storage_full";
    case Outcome::StoreUnavailable: return "store_unavailable";
  }
  return "malformed";
}

unsigned outcome_status(Outcome outcome) {
  switch (outcome) {
    case Outcome::Stored:
    case Outcome::Duplicate: return 200;
    case Outcome::Malformed:
    case Outcome::UnknownDomain: return 400;
    case Outcome::TooLarge: return 413;
    case Outcome::MediaType: return 415;
    case Outcome::StorageFull: return 507;  // RFC 4918 §11.5
    case Outcome::StoreUnavailable: return 503;
  }
  return 400;
}

json IngestResult::document() const {
  if (outcome != Outcome::Stored && outcome != Outcome::Duplicate) return json{{"error", error}};
  return json{{"stored", outcome == Outcome::Stored}, {"duplicate", outcome == Outcome::Duplicate},
              {"domain", domain},          {"organization", organization},
              {"report_id", report_id},    {"stale", stale}};
}

std::string gunzip(std::string_view compressed, size_t max_bytes) {
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("zlib: inflateInit2 failed");
  std::string out;
  char chunk[64 * 1024];
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    status = inflate(&stream, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      const std::string reason = stream.msg ? stream.msg : (status == Z_BUF_ERROR ? "truncated" : "broken data");
      inflateEnd(&stream);
      throw ReportRefused("body: not gzip data (" + reason + ")");
    }
    const size_t produced = sizeof chunk - stream.avail_out;
    // Checked as it grows: a zip bomb costs at most max_bytes of memory.
    if (out.size() + produced > max_bytes) {
      inflateEnd(&stream);
      throw std::length_error("body: inflates to more than " + std::to_string(max_bytes) + " octets");
    }
    out.append(chunk, produced);
    if (status == Z_OK && produced == 0 && stream.avail_in == 0) {
      inflateEnd(&stream);
      throw ReportRefused("body: gzip data ends early");
    }
  }
  const bool trailing = stream.avail_in != 0;
  inflateEnd(&stream);
  if (trailing) throw ReportRefused("body: data after the end of the gzip stream");
  return out;
}

Intake::Intake(std::shared_ptr<store::PolicyStore> store, IntakeSettings settings)
    : store_(std::move(store)), settings_(settings), reports_(store_, settings_.storage), histories_(store_) {
  committer_ = std::thread([this] { run_committer(); });
}

Intake::~Intake() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_ready_.notify_all();
  committer_.join();
}

IngestResult Intake::ingest(std::string_view bytes, std::string_view media_type, std::string_view source) {
  IngestResult result;
  std::optional<Report> parsed;
  ReadyReport ready;
  try {
    if (media_type != kGzipType && media_type != kJsonType) {
      result.outcome = Outcome::MediaType;
      result.error = "Content-Type: '" + std::string(media_type) + "' is neither " + std::string(kGzipType) + " nor " +
                     std::string(kJsonType) + " (RFC 8460 §3)";
    } else if (bytes.size() > settings_.max_compressed_bytes) {
      result.outcome = Outcome::TooLarge;
      result.error = "body: " + std::to_string(bytes.size()) + " octets, more than the " +
                     std::to_string(settings_.max_compressed_bytes) + " taken";
    } else {
      std::string inflated;
      if (media_type == kGzipType) inflated = gunzip(bytes, settings_.max_decompressed_bytes);
      std::string_view text = media_type == kGzipType ? std::string_view(inflated) : bytes;
      if (text.size() > settings_.max_decompressed_bytes) throw std::length_error("body: larger than the limit");
      ready.report = parse_report(text, settings_.report, store_->now());
      result = ingest_report(ready.report, ready);
      parsed = std::move(ready.report);
    }
  } catch (const ReportRefused& refused) {
    result.outcome = Outcome::Malformed;
    result.error = refused.what();
  } catch (const std::length_error& too_large) {
    result.outcome = Outcome::TooLarge;
    result.error = too_large.what();
  } catch (const store::StoreUnavailable& unavailable) {
    result.outcome = Outcome::StoreUnavailable;
    result.error = unavailable.what();
  }
  if (result.outcome != Outcome::Stored && result.outcome != Outcome::Duplicate)
    log::f(log::Level::Info, "tlsrpt: %.*s: report refused (%.*s): %s", static_cast<int>(source.size()),
           source.data(), static_cast<int>(outcome_name(result.outcome).size()), outcome_name(result.outcome).data(),
           result.error.c_str());
  count(result, result.outcome == Outcome::Stored && parsed ? &*parsed : nullptr);
  return result;
}

IngestResult Intake::ingest_report(const Report& report, ReadyReport& ready) {
  IngestResult result;
  result.organization = report.organization;
  result.report_id = report.report_id;
  result.domain = report.policies.front().policy_domain;
  for (size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& policy = report.policies[i];
    auto history = histories_.get(policy.policy_domain);
    if (!history && !settings_.storage.keep_unknown_domains) {
      result.outcome = Outcome::UnknownDomain;
      result.error = "policies[" + std::to_string(i) + "].policy.policy-domain: " + policy.policy_domain +
                     " is not in the store (unknown_domains: refuse)";
      return result;
    }
    ready.in_store.push_back(history != nullptr);
    ready.attributions.push_back(history ? attribute(policy, *history, report.start) : Attribution{});
    const Attribution& a = ready.attributions.back();
    if (a.stale) {
      result.stale.push_back(json{{"domain", policy.policy_domain}, {"reporter", report.organization},
                                  {"version", a.version}, {"confirmed_version", a.confirmed_version},
                                  {"confirmed_at", iso8601(a.confirmed_at)}, {"successful", policy.successful},
                                  {"failed", policy.failed}});
    }
  }
  switch (commit(ready)) {
    case StoreOutcome::Stored: result.outcome = Outcome::Stored; break;
    case StoreOutcome::Duplicate: result.outcome = Outcome::Duplicate; break;
    case StoreOutcome::Full:
      result.outcome = Outcome::StorageFull;
      result.error = "the report store is full (max_bytes " + std::to_string(settings_.storage.max_bytes) +
                     ") with reports no older than this one";
      break;
  }
  return result;
}

StoreOutcome Intake::commit(const ReadyReport& report) {
  Queued queued{&report, {}};
  auto done = queued.done.get_future();
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(&queued);
  }
  queue_ready_.notify_one();
  return done.get();  // rethrows the store's error
}

void Intake::run_committer() {
  for (;;) {
    std::vector<Queued*> batch;
    {
      std::unique_lock lock(queue_mutex_);
      queue_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      while (!queue_.empty() && batch.size() < settings_.max_batch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    std::vector<const ReadyReport*> reports;
    for (Queued* queued : batch) reports.push_back(queued->report);
    try {
      auto outcomes = reports_.store(reports);
      for (size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(outcomes[i]);
    } catch (...) {
      for (Queued* queued : batch) queued->done.set_exception(std::current_exception());
    }
  }
}

void Intake::count(const IngestResult& result, const Report* report) {
  outcomes_[static_cast<size_t>(result.outcome)].fetch_add(1, std::memory_order_relaxed);
  if (!report) return;
  const auto& types = result_types();
  for (const auto& policy : report->policies) {
    sessions_[0].fetch_add(policy.successful, std::memory_order_relaxed);
    for (const auto& failure : policy.failures) {
      auto it = std::find(types.begin(), types.end(), failure.result_type);
      const size_t slot = it == types.end() ? types.size() + 1 : static_cast<size_t>(it - types.begin()) + 1;
      sessions_[slot].fetch_add(failure.failed_session_count, std::memory_order_relaxed);
    }
  }
}

void Intake::write_metrics(metrics::MetricsWriter& writer) const {
  constexpr std::string_view kReports = "TLS-RPT reports received, by outcome (stored, duplicate, or why refused)";
  for (size_t i = 0; i < outcomes_.size(); ++i) {
    const auto outcome = static_cast<Outcome>(i);
    if (i > static_cast<size_t>(Outcome::StoreUnavailable)) break;
    writer.counter("stsd_tlsrpt_reports_total", kReports, {{"outcome", outcome_name(outcome)}},
                   static_cast<double>(outcomes_[i].load(std::memory_order_relaxed)));
  }
  constexpr std::string_view kSessions =
      "Sessions in stored TLS-RPT reports: successful, or failed by RFC 8460 result type (other: any other type)";
  const auto& types = result_types();
  writer.counter("stsd_tlsrpt_sessions_total", kSessions, {{"result", "successful"}},
                 static_cast<double>(sessions_[0].load(std::memory_order_relaxed)));
  for (size_t i = 0; i < types.size(); ++i)
    writer.counter("stsd_tlsrpt_sessions_total", kSessions, {{"result", types[i]}},
                   static_cast<double>(sessions_[i + 1].load(std::memory_order_relaxed)));
  writer.counter("stsd_tlsrpt_sessions_total", kSessions, {{"result", "other"}},
                 static_cast<double>(sessions_[types.size() + 1].load(std::memory_order_relaxed)));
  const auto usage = reports_.usage();
  writer.gauge("stsd_tlsrpt_domains_stale", "Domains with a stale report (a sender applied an older version) in the days kept",
               {}, static_cast<double>(usage.domains_with_stale));
  writer.gauge("stsd_tlsrpt_domains_failing", "Domains with failed sessions reported in the days kept", {},
               static_cast<double>(usage.domains_with_failures));
  writer.gauge("stsd_tlsrpt_store_bytes", "Octets the stored reports take (bounded by max_bytes)", {},
               static_cast<double>(usage.bytes));
  writer.gauge("stsd_tlsrpt_store_days", "Days of reports kept", {}, static_cast<double>(usage.days));
}

}  // namespace stsd::tlsrpt
