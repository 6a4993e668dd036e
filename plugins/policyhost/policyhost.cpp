// Registration of the `policy_host:` service and its wiring to the policy store.
#include <memory>

#include <nlohmann/json.hpp>

#include "cert_store.h"
#include "logging.h"
#include "registry.h"
#include "server.h"
#include "settings.h"
#include "store/admin_extensions.h"
#include "store/policy_store.h"

namespace stsd::policyhost {
namespace {

// The newest STAGED version's file, not the confirmed one: the confirmer confirms a
// version only after it fetched it through this public path (RFC 8461 §8.1: the policy
// file changes before the TXT id does).
PolicyLookup store_lookup(std::shared_ptr<store::PolicyStore> state) {
  return [state = std::move(state)](std::string_view domain) -> std::optional<std::string> {
    auto served = state->served(domain);  // one RocksDB snapshot; a failure is a 500
    if (!served || !served->staged || served->staged_policy.empty()) return std::nullopt;
    return served->staged_policy;
  };
}

class PolicyHostService final : public Service {
 public:
  PolicyHostService(PolicyHostSettings settings, Environment& env) : settings_(std::move(settings)), env_(env) {}

  void start() override {
    auto server = make_server(settings_);
    server->start();
    adopt(std::move(server));
  }

  void stop() override {
    if (server_) server_->stop();
    server_.reset();
  }

  void prepare_reload(const ConfigNode* section, PendingLoad& load) override {
    if (!section) {  // the key was removed: stop serving
      load.on_commit([this] { stop(); });
      return;
    }
    auto settings = parse_policy_host_settings(*section);
    // Phase one binds the addresses the new settings add: one in use refuses the reload
    // while the old ones keep serving.
    std::shared_ptr<PolicyHostServer> server = server_ ? server_ : make_server(settings);
    std::shared_ptr<PolicyHostServer::Prepared> prepared;
    try {
      prepared = std::make_shared<PolicyHostServer::Prepared>(server->prepare(settings));
    } catch (const http::BindError& error) {
      section->require("listen").fail(error.what());
    }
    load.on_commit([this, server, prepared, settings = std::move(settings)]() mutable {
      settings_ = settings;
      if (server == server_) return server_->commit(std::move(settings), std::move(*prepared));
      server->start(std::move(*prepared));
      adopt(std::move(server));
    });
  }

 private:
  std::shared_ptr<PolicyHostServer> make_server(const PolicyHostSettings& settings) {
    auto state = store::PolicyStore::open(env_);
    // One certificate store for the process, kept across reloads and published for the
    // admin API and the confirmer (certificate_report.h).
    auto report = env_.shared<CertificateReport>(std::string(kCertificateReportKey), [&] {
      return std::static_pointer_cast<CertificateReport>(std::make_shared<CertificateStore>(settings.cert_dir));
    });
    auto certificates = std::dynamic_pointer_cast<CertificateStore>(report);
    if (!certificates) throw std::runtime_error("policy_host: the shared certificate report has an unexpected type");
    return std::make_shared<PolicyHostServer>(settings, store_lookup(state), certificates,
                                              [state] { return state->domains(); });
  }

  void adopt(std::shared_ptr<PolicyHostServer> server) {
    server_ = std::move(server);
    if (!status_registered_) {
      report_certificates_in_status(env_.find_shared<CertificateReport>(std::string(kCertificateReportKey)));
      status_registered_ = true;
    }
  }

  // `stsctl status DOMAIN` says whether this host can serve the domain's policy at all:
  // without a certificate for mta-sts.<domain> every sender's fetch fails (RFC 8461 §3.3).
  void report_certificates_in_status(std::shared_ptr<CertificateReport> report) {
    store::AdminExtensions::get(env_)->add_status_section("certificate", [report](const std::string& domain) {
      const auto host = CertificateReport::policy_host_name(domain);
      auto match = report->certificate_for(host);
      if (!match)
        return nlohmann::json{{"present", false},
                              {"lines",
                               {"no certificate for " + host +
                                " in cert_dir: the policy host refuses "
                                "the TLS handshake and senders cannot fetch the policy"}}};
      const auto days_left =
          std::chrono::duration_cast<std::chrono::hours>(match->not_after - std::chrono::system_clock::now()).count() /
          24;
      std::string line = "certificate for " + host + " from " + match->file + " (" + match->matched_name + "), ";
      line += match->valid_now ? "valid for " + std::to_string(days_left) + " more days" : "NOT valid now";
      return nlohmann::json{
          {"present", true},
          {"valid_now", match->valid_now},
          {"file", match->file},
          {"not_after",
           std::chrono::duration_cast<std::chrono::seconds>(match->not_after.time_since_epoch()).count()},
          {"lines", {line}}};
    });
  }

  PolicyHostSettings settings_;
  Environment& env_;
  std::shared_ptr<PolicyHostServer> server_;
  bool status_registered_ = false;
};

}  // namespace
}  // namespace stsd::policyhost

void stsd_register_policyhost(stsd::Registry& registry) {
  registry.add_service(
      "policy_host", [](const stsd::ConfigNode* section, stsd::Environment& env) -> std::unique_ptr<stsd::Service> {
        if (!section) return nullptr;
        auto settings = stsd::policyhost::parse_policy_host_settings(*section);
        // The policies come from the store; without one there is nothing to serve.
        if (!env.storage_path())
          section->fail("the policy host serves the policies of the store: set the top-level 'storage:' key");
        return std::make_unique<stsd::policyhost::PolicyHostService>(std::move(settings), env);
      });
}
