// `stsctl check DOMAIN` (ConfirmApi::run_check): resolves and fetches now, in the order
// the report is printed, and builds the report from its sections (report_sections.h).
#include "confirmer.h"

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "on_resolver_thread.h"
#include "report_sections.h"

namespace stsd::confirm {

namespace asio = boost::asio;
using std::chrono::seconds;

nlohmann::json ConfirmEngine::run_check(const std::string& domain_text) {
  std::string domain;
  try {
    domain = store::normalize_domain(domain_text);
  } catch (const std::exception& e) {
    throw std::invalid_argument(e.what());
  }
  if (!running_) throw std::runtime_error("the confirmer is not running");
  if (!state_->has_domain(domain)) throw std::invalid_argument("no domain " + domain + " in the store");
  auto future = asio::co_spawn(io_, build_report(domain), asio::use_future);
  // DNS lookups (4, each bounded) and one fetch round (bounded by the timeout).
  const auto bound = runtime()->settings.timeout * 6 + seconds(10);
  if (future.wait_for(bound) != std::future_status::ready)
    throw std::runtime_error("the check of " + domain + " did not finish within " + describe_duration(bound));
  return future.get();
}

asio::awaitable<nlohmann::json> ConfirmEngine::build_report(std::string domain) {
  auto rt = runtime();
  auto dns = rt->dns;
  const TimePoint checked = now();
  auto status = state_->status(domain, store::unix_seconds(checked));
  if (!status) throw std::invalid_argument("no domain " + domain + " in the store");
  auto versions = versions_of(domain, *status);
  const bool pending = versions->pending;
  CheckReport report = start_report(domain, checked, dns->server_text());
  add_store_section(report, *status, pending, rotation_held_words(domain, *status));

  // The TXT record as the world sees it (RFC 8461 §3.1).
  const std::string txt_name = sts_record_name(domain);
  auto resolve_txt = [dns, txt_name] { return dns->txt(txt_name); };
  auto txt_operation = on_resolver_thread<TxtLookup>(std::move(resolve_txt));
  TxtLookup txt = co_await std::move(txt_operation);
  const auto rotation = state_->rotation();
  const auto txt_ttl = add_txt_section(report, domain, txt, *status);

  // The policy from each vantage, and its certificate.
  auto planning = plan_vantages(rt, domain, status->settings.vantages);
  VantagePlan plan = co_await std::move(planning);
  std::vector<VantageOutcome> outcomes;
  if (!plan.setup_error) {
    auto probing = probe_all(rt, versions, plan.targets);
    outcomes = co_await std::move(probing);
  }
  add_policy_section(report, domain, plan.setup_error, plan.configured, outcomes, pending, checked);

  // MX coverage (RFC 8461 §4.1).
  auto resolve_mx = [dns, domain] { return dns->mx(domain); };
  auto mx_operation = on_resolver_thread<MxLookup>(std::move(resolve_mx));
  MxLookup mx = co_await std::move(mx_operation);
  add_mx_section(report, domain, mx, *status, pending);

  // TLS-RPT (RFC 8460 §3).
  const std::string tlsrpt_name = tlsrpt_record_name(domain);
  auto resolve_tlsrpt = [dns, tlsrpt_name] { return dns->txt(tlsrpt_name); };
  auto tlsrpt_operation = on_resolver_thread<TxtLookup>(std::move(resolve_tlsrpt));
  TxtLookup tlsrpt = co_await std::move(tlsrpt_operation);
  add_tlsrpt_section(report, domain, tlsrpt, *status);

  const auto transfer_lag = transfer_lag_ ? transfer_lag_->worst() : std::nullopt;
  add_safe_to_add_section(report, *status, pending, txt_ttl, rotation, checked, outcomes, transfer_lag);
  co_return finish_report(std::move(report));
}

}  // namespace stsd::confirm
