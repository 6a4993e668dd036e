#include "exporter.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "logging.h"
#include "net/listen_list.h"
#include "probes.h"

namespace stsd::metrics_plugin {

ExporterSettings parse_exporter_settings(const ConfigNode& section) {
  section.expect_map({"listen"});
  const auto listen = stsd::net::ListenList::of(section, kDefaultListen);
  ExporterSettings settings;
  settings.listen = listen.texts();
  settings.endpoints = listen.endpoints();
  return settings;
}

// ---------------------------------------------------------------------------------------

http::Reply metrics_reply(const http::Request& request, MetricsRegistry& registry, const Readiness& readiness) {
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));  // scrapers may add parameters
  if (path != "/metrics" && path != "/healthz" && path != "/readyz")
    return http::text_error_reply(404, "not found: stsd serves /metrics, /healthz and /readyz");
  if (request.method != "GET" && request.method != "HEAD") {
    auto reply = http::text_error_reply(405, "method not allowed: use GET");
    reply.headers.emplace_back("Allow", "GET, HEAD");
    return reply;
  }
  if (path == "/healthz") return health_reply();
  if (path == "/readyz") return readiness_reply(readiness);
  http::Reply reply;
  try {
    reply.body = registry.scrape();
  } catch (const std::exception& e) {
    return http::text_error_reply(500, std::string("metrics collection failed: ") + e.what());
  }
  reply.headers.emplace_back("Content-Type", std::string(metrics::kContentType));
  return reply;
}

std::unique_ptr<http::Server> make_metrics_server(std::shared_ptr<MetricsRegistry> registry,
                                                  std::shared_ptr<const Readiness> readiness) {
  http::ServerSettings settings;
  settings.name = "metrics";
  settings.connection.limits = {.max_header_bytes = kMaxHeaderBytes, .max_body_bytes = kMaxBodyBytes};
  settings.connection.timeouts = {.handshake = kRequestTimeout,
                                  .first_request = kRequestTimeout,
                                  .idle = kRequestTimeout,
                                  .request = kRequestTimeout,
                                  .write = kRequestTimeout};
  settings.limits.max_connections = kMaxConnections;
  settings.limits.max_pending = kMaxConnections;
  settings.stop_grace = std::chrono::milliseconds(0);  // scrapes are cheap to repeat
  http::Hooks hooks;
  hooks.handler = [registry, readiness](const http::Request& request) {
    return metrics_reply(request, *registry, *readiness);
  };
  return std::make_unique<http::Server>(settings, std::move(hooks));
}

// ---------------------------------------------------------------------------------------

namespace {

struct ProcessStat {
  double cpu_seconds = 0;
  uint64_t start_ticks = 0;
  bool ok = false;
};

// /proc/self/stat (proc(5)): fields after the command name, which may contain spaces
// and parentheses, so parsing starts after the last ')'.
ProcessStat read_process_stat() {
  ProcessStat out;
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream fields(text.substr(close + 1));
  std::vector<std::string> values;
  for (std::string value; fields >> value && values.size() < 20;) values.push_back(value);
  if (values.size() < 20) return out;
  // values[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  try {
    out.cpu_seconds = (std::stod(values[11]) + std::stod(values[12])) / ticks;
    out.start_ticks = std::stoull(values[19]);
    out.ok = true;
  } catch (const std::exception&) {}
  return out;
}

double process_start_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  uint64_t boot = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("btime ", 0) == 0) boot = std::stoull(line.substr(6));
  const auto stat = read_process_stat();
  if (boot && stat.ok) return static_cast<double>(boot) + static_cast<double>(stat.start_ticks) / sysconf(_SC_CLK_TCK);
  // No /proc: the time the metrics were first registered is close enough.
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

MetricsRegistry::Registration register_process_metrics(MetricsRegistry& registry) {
  const double started = process_start_time();
  return registry.add("process", [started](MetricsWriter& writer) {
    writer.gauge("stsd_build_info", "The running stsd version (always 1).", {{"version", STSD_VERSION}}, 1);
    writer.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.", {},
                 started);
    // statm(5): sizes in pages.
    std::ifstream statm("/proc/self/statm");
    uint64_t size_pages = 0, resident_pages = 0;
    if (statm >> size_pages >> resident_pages) {
      const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      writer.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {},
                   static_cast<double>(resident_pages) * page);
      writer.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
                   static_cast<double>(size_pages) * page);
    }
    const auto stat = read_process_stat();
    if (stat.ok)
      writer.counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", {}, stat.cpu_seconds);
    std::error_code ec;
    size_t fds = 0;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++fds;
    if (!ec) writer.gauge("process_open_fds", "Open file descriptors.", {}, static_cast<double>(fds));
  });
}

// ---------------------------------------------------------------------------------------

namespace {

std::vector<http::ListenAddress> listen_addresses(const ExporterSettings& settings) {
  std::vector<http::ListenAddress> addresses;
  for (const auto& endpoint : settings.endpoints) addresses.push_back(http::ListenAddress::tcp(endpoint));
  return addresses;
}

}  // namespace

void MetricsService::start() {
  auto registry = metrics_registry(env_);
  register_collectors(*registry);
  std::shared_ptr<http::Server> server = make_metrics_server(registry, Readiness::of(env_));
  server->start(listen_addresses(settings_));
  server_ = std::move(server);
  announce();
}

void MetricsService::register_collectors(MetricsRegistry& registry) {
  if (!process_metrics_) process_metrics_ = register_process_metrics(registry);
  if (!readiness_metrics_) readiness_metrics_ = register_readiness_metrics(registry, Readiness::of(env_));
}

void MetricsService::announce() const {
  std::string where;
  for (const auto& text : settings_.listen) where += (where.empty() ? "" : ", ") + text;
  log::info("metrics: serving http://" + where + "/metrics (and /healthz, /readyz)");
}

void MetricsService::stop() {
  if (server_) server_->stop();
  server_.reset();
  process_metrics_.reset();
  readiness_metrics_.reset();
}

void MetricsService::prepare_reload(const ConfigNode* section, PendingLoad& load) {
  if (!section) {
    load.on_commit([this] {
      if (server_) log::info("metrics: section removed; /metrics is no longer served");
      stop();
    });
    return;
  }
  auto settings = parse_exporter_settings(*section);
  if (server_ && settings.endpoints == settings_.endpoints) return;
  // Phase one binds the new addresses, so that one in use refuses the reload while the
  // old endpoint keeps serving.
  auto registry = metrics_registry(env_);
  std::shared_ptr<http::Server> server =
      server_ ? server_ : std::shared_ptr<http::Server>(make_metrics_server(registry, Readiness::of(env_)));
  std::shared_ptr<http::Server::Prepared> prepared;
  try {
    prepared = std::make_shared<http::Server::Prepared>(server->prepare(listen_addresses(settings)));
  } catch (const http::BindError& error) {
    if (auto listen = section->get("listen")) listen->fail(error.what());
    section->fail(error.what());
  }
  load.on_commit([this, server, prepared, registry, settings = std::move(settings)]() mutable {
    register_collectors(*registry);
    server->listen(std::move(*prepared));
    server_ = server;
    settings_ = std::move(settings);
    announce();
  });
}

}  // namespace stsd::metrics_plugin
