#pragma once
#include <memory>
#include <string_view>

#include "plugin.h"
#include "registry.h"

namespace stsd::errors_plugin {

// Contains failures of the plugins after it: an exception becomes a SERVFAIL answer
// and an error line with the query's context; a SERVFAIL that a plugin chose to give
// is reported too. Nothing is logged for other answers.
class ErrorsPlugin final : public Plugin {
 public:
  std::string_view name() const override { return "errors"; }
  void serve(Query& query, Next next) const override;
};

std::unique_ptr<Plugin> make_errors_plugin(PluginSetup& setup);

}  // namespace stsd::errors_plugin

void stsd_register_errors(stsd::Registry& registry);
