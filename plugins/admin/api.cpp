#include "api.h"

#include <algorithm>

#include "api_documents.h"

#include "api_handlers.h"
#include "api_request.h"
#include "api_routes.h"
#include "logging.h"

namespace stsd::admin {

using namespace stsd::store;  // the API speaks the store's vocabulary throughout

namespace {

using nlohmann::json;

[[noreturn]] void no_such_endpoint(const ApiRequest& request, const Target& target) {
  const bool under_v1 = !target.segments.empty() && target.segments.front() == "v1";
  throw HttpError{404, "no such endpoint: " + request.target + (under_v1 ? "" : " (the API lives under /v1/)")};
}

// RFC 9110 §15.5.6: a 405 names the methods the path has in an Allow field.
ApiResponse method_not_allowed(const ApiRequest& request, const std::vector<std::string>& allowed) {
  const std::string verbs = allow_value(allowed);
  return {405,
          json{{"error", request.method + " is not allowed on " + request.target + " (allowed: " + verbs + ")"}},
          {{"Allow", verbs}}};
}

// A {domain} in a path: any case, a trailing dot allowed; 404 unless it is in the store.
std::string domain_in_store(const PolicyStore& state, const std::string& segment) {
  std::string domain = normalize_domain(segment);
  if (!state.has_domain(domain)) {
    throw HttpError{404, domain + " is not in the store (add it first: stsctl domain add " + domain + ")",
                    json{{"domain", domain}}};
  }
  return domain;
}

json route_body(const Route& route, const ApiRequest& request) {
  if (route.body == BodyRule::Raw) {
    const auto& types = route.media_types;
    if (!request.body.empty() && std::find(types.begin(), types.end(), request.media_type) == types.end()) {
      std::string names;
      for (const auto& type : types) names += (names.empty() ? "" : " or ") + type;
      throw HttpError{415, request.method + " " + request.target + " takes a body of Content-Type " + names};
    }
    return json();
  }
  if (request.media_type != kJsonMediaType && request.media_type != kCsvMediaType)
    throw HttpError{415, request.method + " " + request.target + " takes a JSON body (Content-Type: application/json)"};
  if (request.media_type == kCsvMediaType) {
    if (route.body == BodyRule::JsonOrCsv) return json();
    throw HttpError{415, request.method + " " + request.target + " takes a JSON body (Content-Type: application/json)"};
  }
  switch (route.body) {
    case BodyRule::None:
      if (!request.body.empty()) bad_request(request.method + " " + request.target + " takes no body");
      return json();
    case BodyRule::Required:
    case BodyRule::JsonOrCsv:
      return parse_body(request.body, true);
    case BodyRule::Optional:
      return parse_body(request.body, false);
  }
  return json();
}

}  // namespace

AdminApi::AdminApi(std::shared_ptr<PolicyStore> state, std::shared_ptr<AdminExtensions> hooks)
    : state_(std::move(state)), hooks_(std::move(hooks)) {}

ApiResponse AdminApi::handle(const ApiRequest& request) {
  try {
    return dispatch(request);
  } catch (const HttpError& error) {
    json body = error.extra;
    body["error"] = error.message;
    return {error.status, body};
  } catch (const RetirementConflict& error) {
    return {409, json{{"error", error.what()}}};
  } catch (const PolicyError& error) {
    return {400, json{{"error", error.what()}}};
  } catch (const StoreUnavailable& error) {
    // Not a fault of this request, and not for good: RFC 9110 §15.6.4, 503.
    log::f(log::Level::Warning, "admin: %s %s: %s", request.method.c_str(), request.target.c_str(), error.what());
    return {503, json{{"error", error.what()}, {"store", health_json(state_->health())}}};
  } catch (const StoreError& error) {
    log::f(log::Level::Error, "admin: %s %s: store error: %s", request.method.c_str(), request.target.c_str(),
           error.what());
    return {500, json{{"error", std::string("store error: ") + error.what()}}};
  } catch (const std::exception& error) {
    log::f(log::Level::Error, "admin: %s %s: %s", request.method.c_str(), request.target.c_str(), error.what());
    return {500, json{{"error", std::string("internal error: ") + error.what()}}};
  }
}

// The steps every request takes, in the order their refusals are reported: the target
// (400), the route (404, 405), the {domain} (400, 404), the body (400), the handler.
ApiResponse AdminApi::dispatch(const ApiRequest& request) {
  const Target target = parse_target(request.target);
  const std::vector<Route> routes = admin_routes(*hooks_);
  RouteMatch match = match_route(routes, request.method, target.segments);
  if (match.route == nullptr) {
    if (match.allowed.empty()) no_such_endpoint(request, target);
    return method_not_allowed(request, match.allowed);
  }
  Call call{request, target, *state_, *hooks_, std::move(match.captures), {}, {}};
  if (auto domain = call.captures.find("domain"); domain != call.captures.end()) {
    call.domain = domain_in_store(*state_, domain->second);
  }
  call.body = route_body(*match.route, request);
  return match.route->handler(call);
}

}  // namespace stsd::admin
