// The `chaos` plugin: version.bind, version.server, id.server and hostname.bind.
#include "chaos_plugin.h"

#include <unistd.h>

#include <climits>

#include "dns/rdata.h"
#include "dns/types.h"

namespace stsd::chaos_plugin {

std::string default_version() { return std::string("stsd ") + STSD_VERSION; }

std::string default_id() {
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "stsd";
  return host;
}

ChaosPlugin::ChaosPlugin(std::string version, std::string id)
    : version_(std::move(version)),
      id_(std::move(id)),
      version_rdata_(dns::txt_rdata(version_)),
      id_rdata_(dns::txt_rdata(id_)),
      version_bind_(*dns::Name::from_text("version.bind.")),
      version_server_(*dns::Name::from_text("version.server.")),
      id_server_(*dns::Name::from_text("id.server.")),
      hostname_bind_(*dns::Name::from_text("hostname.bind.")) {}

void ChaosPlugin::serve(Query& query, Next next) const {
  const auto& request = query.request;
  if (!request.has_question || request.question.rclass != dns::rrclass::CH) return next(query);
  const auto& qname = request.question.name;
  const std::vector<uint8_t>* rdata = nullptr;
  if (qname == version_bind_ || qname == version_server_)
    rdata = &version_rdata_;
  else if (qname == id_server_ || qname == hostname_bind_)
    rdata = &id_rdata_;
  if (!rdata) return next(query);

  query.response.start(dns::Rcode::NoError, true);
  // Only TXT exists at these names; other types get an empty answer (NODATA; there is
  // no zone, hence no SOA to add). TTL 0: the answer describes this server right now.
  const uint16_t qtype = request.question.type;
  if (qtype == dns::rrtype::TXT || qtype == dns::rrtype::ANY)
    query.response.add(dns::Section::Answer,
                       dns::RecordRef{request.question.original, dns::rrtype::TXT, dns::rrclass::CH, 0, *rdata});
}

std::unique_ptr<Plugin> make_chaos_plugin(PluginSetup& setup) {
  const ConfigNode& config = setup.config;
  std::string version = default_version();
  std::string id = default_id();
  if (config.is_scalar() && !config.is_null()) {
    version = config.as_string();
  } else {
    config.expect_map({"version", "id"});
    version = config.string_or("version", version);
    id = config.string_or("id", id);
  }
  // One TXT record holds at most 65535 octets; keep these to what a person would type.
  constexpr size_t kMaxText = 1024;
  if (version.size() > kMaxText) config.fail("version is longer than 1024 characters");
  if (id.size() > kMaxText) config.fail("id is longer than 1024 characters");
  return std::make_unique<ChaosPlugin>(std::move(version), std::move(id));
}

}  // namespace stsd::chaos_plugin

void stsd_register_chaos(stsd::Registry& registry) {
  registry.add_plugin("chaos", stsd::chaos_plugin::make_chaos_plugin);
}
