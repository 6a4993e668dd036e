#pragma once
// The admin API's routes as one table of verb, path pattern and handler, and the pure
// matcher that picks a route for a request:
//
//   a route of the request's verb whose pattern matches the path -> that route (the
//                                            first in table order) and its captures
//   routes whose pattern matches, none of the request's verb    -> 405; `allowed` lists
//                                            their verbs for the Allow field
//   no pattern matches the path                                  -> 404
//
// A pattern is "/"-separated segments, each a literal or a "{name}" capture of one whole
// segment. The matcher sees the path as parse_target leaves it: split at "/" with empty
// segments dropped, then each segment percent-decoded (so "%2F" inside a domain stays in
// its segment). Built-in routes come before the ones other services register
// (AdminExtensions::add_domain_route), so a hook cannot replace a built-in route.
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api.h"
#include "api_handlers.h"
#include "store/admin_extensions.h"

namespace stsd::admin {

// What a route does with the request body before its handler runs.
enum class BodyRule {
  None,      // refused with 400 ("takes no body")
  Required,  // a JSON object (400 when empty or not one)
  Optional,  // a JSON object, or null when the request has none
  JsonOrCsv,  // a JSON object, or a text/csv body the handler reads (call.body stays null)
  Raw,        // any body of the route's media types, read by the handler (call.body stays null)
};

using Handler = std::function<ApiResponse(const Call&)>;

struct PatternSegment {
  std::string text;  // the literal, or the capture's name
  bool capture = false;
};

struct Route {
  std::string verb;                      // "GET", "POST", ...
  std::string pattern;                   // as written: "/v1/domains/{domain}/status"
  std::vector<PatternSegment> segments;  // the pattern, parsed
  BodyRule body = BodyRule::None;
  Handler handler;
  std::vector<std::string> media_types = {};  // BodyRule::Raw: the body types it takes
};

// A route from its pattern text ("{name}" segments capture).
Route make_route(std::string verb, std::string_view pattern, BodyRule body, Handler handler);

struct RouteMatch {
  const Route* route = nullptr;      // null: no route for this verb and path
  Captures captures;                 // of `route`
  std::vector<std::string> allowed;  // without a route: the path's verbs (none: 404)
};

RouteMatch match_route(std::span<const Route> table, std::string_view verb, const std::vector<std::string>& segments);

// "GET, POST": the value of an Allow field (RFC 9110 §10.2.1).
std::string allow_value(const std::vector<std::string>& verbs);

// The built-in routes, then GET/POST/... /v1/domains/{domain}/{name} for each domain
// route `hooks` holds (its name always one literal segment, body optional), then
// /v1/{name} for each of its own routes (AdminExtensions::add_api_route, raw body).
std::vector<Route> admin_routes(const store::AdminExtensions& hooks);

}  // namespace stsd::admin
