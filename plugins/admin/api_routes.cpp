#include "api_routes.h"

#include <algorithm>
#include <optional>

namespace stsd::admin {

using namespace stsd::store;  // the API speaks the store's vocabulary throughout
namespace {

std::vector<PatternSegment> parse_pattern(std::string_view pattern) {
  std::vector<PatternSegment> segments;
  for (std::string_view text : path_segments(pattern)) {
    const bool capture = text.size() > 2 && text.front() == '{' && text.back() == '}';
    segments.push_back({std::string(capture ? text.substr(1, text.size() - 2) : text), capture});
  }
  return segments;
}

// The captures, when `segments` has the pattern's shape.
std::optional<Captures> match_pattern(const std::vector<PatternSegment>& pattern,
                                      const std::vector<std::string>& segments) {
  if (pattern.size() != segments.size()) return std::nullopt;
  Captures captures;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i].capture)
      captures.emplace(pattern[i].text, segments[i]);
    else if (pattern[i].text != segments[i])
      return std::nullopt;
  }
  return captures;
}

// The API's routes; README.md ("The API") documents each. Verbs of one path are listed
// in the order a 405's Allow field names them.
const std::vector<Route>& builtin_routes() {
  static const std::vector<Route> routes = {
      make_route("GET", "/v1/server", BodyRule::None, handle_server),
      make_route("GET", "/v1/domains", BodyRule::None, handle_list_domains),
      make_route("POST", "/v1/domains", BodyRule::Required, handle_add_domain),
      make_route("GET", "/v1/domains/{domain}", BodyRule::None, handle_status),
      make_route("DELETE", "/v1/domains/{domain}", BodyRule::None, handle_remove_domain),
      make_route("GET", "/v1/domains/{domain}/status", BodyRule::None, handle_status),
      make_route("GET", "/v1/domains/{domain}/events", BodyRule::None, handle_events),
      make_route("GET", "/v1/domains/{domain}/settings", BodyRule::None, handle_get_settings),
      make_route("PUT", "/v1/domains/{domain}/settings", BodyRule::Required, handle_put_settings),
      make_route("POST", "/v1/domains/{domain}/policies", BodyRule::Required, handle_stage),
      make_route("GET", "/v1/domains/{domain}/policies/{version}", BodyRule::None, handle_version),
      make_route("GET", "/v1/domains/{domain}/policy", BodyRule::None, handle_current_policy),
      make_route("POST", "/v1/domains/{domain}/confirm", BodyRule::Required, handle_confirm),
      make_route("POST", "/v1/domains/{domain}/retirement", BodyRule::Optional, handle_retire),
      make_route("DELETE", "/v1/domains/{domain}/retirement", BodyRule::None, handle_unretire),
      make_route("POST", "/v1/import", BodyRule::JsonOrCsv, handle_import),
  };
  return routes;
}

Route hook_route(const AdminExtensions::Route& hook) {
  // The name is one literal segment, never parsed as a pattern: a name such as "{x}"
  // matches only that text.
  Route route = make_route(hook.method, "/v1/domains/{domain}", BodyRule::Optional,
                           [handler = hook.handler](const Call& call) -> ApiResponse {
                             return {200, handler(call.domain, call.body)};
                           });
  route.pattern += "/" + hook.name;
  route.segments.push_back({hook.name, false});
  return route;
}

Route own_route(const AdminExtensions::OwnRoute& hook) {
  Route route = make_route(hook.method, "/v1", BodyRule::Raw, [handler = hook.handler](const Call& call) -> ApiResponse {
    AdminExtensions::ApiCall api_call{call.request.method,
                                      {call.target.query.begin(), call.target.query.end()},
                                      call.request.body,
                                      call.request.media_type};
    AdminExtensions::ApiReply reply = handler(api_call);
    return {reply.status, std::move(reply.body), std::move(reply.headers)};
  });
  route.pattern += "/" + hook.name;
  route.segments.push_back({hook.name, false});
  route.media_types = hook.media_types;
  return route;
}

}  // namespace

Route make_route(std::string verb, std::string_view pattern, BodyRule body, Handler handler) {
  return Route{std::move(verb), std::string(pattern), parse_pattern(pattern), body, std::move(handler)};
}

RouteMatch match_route(std::span<const Route> table, std::string_view verb, const std::vector<std::string>& segments) {
  RouteMatch match;
  for (const Route& route : table) {
    std::optional<Captures> captures = match_pattern(route.segments, segments);
    if (!captures) continue;
    if (route.verb == verb) {
      match.route = &route;
      match.captures = std::move(*captures);
      match.allowed.clear();
      return match;
    }
    if (std::find(match.allowed.begin(), match.allowed.end(), route.verb) == match.allowed.end()) {
      match.allowed.push_back(route.verb);
    }
  }
  return match;
}

std::string allow_value(const std::vector<std::string>& verbs) {
  std::string value;
  for (const auto& verb : verbs) value += (value.empty() ? "" : ", ") + verb;
  return value;
}

std::vector<Route> admin_routes(const AdminExtensions& hooks) {
  std::vector<Route> routes = builtin_routes();
  for (const auto& hook : hooks.domain_routes()) routes.push_back(hook_route(hook));
  for (const auto& hook : hooks.api_routes()) routes.push_back(own_route(hook));
  return routes;
}

}  // namespace stsd::admin
