// The `errors` plugin: exceptions and SERVFAILs, reported with the query's context.
#include "errors_plugin.h"

#include <exception>
#include <string>

#include "dns/types.h"
#include "logging.h"
#include "net/address.h"

namespace stsd::errors_plugin {
namespace {

// "client=192.0.2.1:53000 qname=www.example.org. qtype=A". This runs only on the
// failure path, where allocating a string is of no concern.
std::string context(const dns::Request& request) {
  std::string out = "client=" + net::endpoint_text(request.client, request.client_port);
  out += request.transport == dns::Transport::Tcp ? " transport=tcp" : " transport=udp";
  if (request.has_question) {
    out += " qname=" + request.question.original.to_text();
    out += " qtype=" + dns::type_to_string(request.question.type);
    out += " class=" + dns::class_to_string(request.question.rclass);
  }
  return out;
}

}  // namespace

void ErrorsPlugin::serve(Query& query, Next next) const {
  try {
    next(query);
  } catch (const std::exception& error) {
    stsd::log::error("SERVFAIL after an exception: " + context(query.request) + ": " + error.what());
    query.response.start(dns::Rcode::ServFail, false);
    return;
  } catch (...) {
    stsd::log::error("SERVFAIL after an exception: " + context(query.request) + ": (not a std::exception)");
    query.response.start(dns::Rcode::ServFail, false);
    return;
  }
  if (query.response.answered() && query.response.rcode() == dns::Rcode::ServFail)
    stsd::log::error("SERVFAIL answered: " + context(query.request));
}

std::unique_ptr<Plugin> make_errors_plugin(PluginSetup& setup) {
  setup.config.expect_map({});
  return std::make_unique<ErrorsPlugin>();
}

}  // namespace stsd::errors_plugin

void stsd_register_errors(stsd::Registry& registry) {
  registry.add_plugin("errors", stsd::errors_plugin::make_errors_plugin);
}
