#include "exporter.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "logging.h"
#include "net/address.h"

namespace stsd::metrics_plugin {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? "[" + address.to_string() + "]:" + std::to_string(endpoint.port())
                         : address.to_string() + ":" + std::to_string(endpoint.port());
}

}  // namespace

ExporterSettings parse_exporter_settings(const ConfigNode& section) {
  section.expect_map({"listen"});
  ExporterSettings settings;
  auto listen = section.get("listen");
  std::vector<std::pair<std::string, const ConfigNode*>> texts;
  std::vector<ConfigNode> items;
  if (listen) {
    items = listen->items();
    if (items.empty()) listen->fail("expected an address such as \"127.0.0.1:9153\"");
  }
  std::set<tcp::endpoint> seen;
  auto add = [&](const std::string& text, const ConfigNode& where) {
    const auto endpoints = stsd::net::parse_listen(text);
    if (!endpoints) where.fail(endpoints.error());
    for (const auto& endpoint : *endpoints) {
      tcp::endpoint address(endpoint.address, endpoint.port);
      if (!seen.insert(address).second) where.fail("'" + text + "' is listed twice");
      settings.endpoints.push_back(address);
    }
    settings.listen.push_back(text);
  };
  if (listen) {
    for (const auto& item : items) add(item.as_string(), item);
  } else {
    add(kDefaultListen, section);
  }
  return settings;
}

// ---------------------------------------------------------------------------------------

struct MetricsHttpServer::Shared {
  std::shared_ptr<MetricsRegistry> registry;
  std::atomic<size_t> connections{0};
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<MetricsHttpServer::Shared> shared, tcp::socket socket)
      : shared_(std::move(shared)), stream_(std::move(socket)), buffer_(kMaxHeaderBytes + kMaxBodyBytes) {
    shared_->connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() { shared_->connections.fetch_sub(1, std::memory_order_relaxed); }

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    // One deadline for the whole request: an idle keep-alive connection and a slowly
    // trickled header (slowloris) are both cut after kRequestTimeout.
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == beast::error::timeout)
      return close();
    if (ec == http::error::header_limit) return reply(http::status::request_header_fields_too_large, "request header too large\n", false);
    if (ec == http::error::body_limit) return reply(http::status::payload_too_large, "request body too large\n", false);
    if (ec && ec.category() == make_error_code(http::error::bad_target).category())
      return reply(http::status::bad_request, "bad request: " + ec.message() + "\n", false);
    if (ec) return close();
    handle(parser_->get());
  }

  void handle(const http::request<http::string_body>& request) {
    const std::string_view target(request.target().data(), request.target().size());
    const std::string_view path = target.substr(0, target.find('?'));   // scrapers may add parameters
    const bool keep_alive = request.keep_alive();
    if (path != "/metrics") return reply(http::status::not_found, "not found: stsd serves only /metrics\n", keep_alive);
    const auto method = request.method();
    if (method != http::verb::get && method != http::verb::head) {
      response_ = {};
      response_.set(http::field::allow, "GET, HEAD");
      return reply(http::status::method_not_allowed, "method not allowed: use GET\n", keep_alive, false);
    }
    std::string body;
    try {
      body = shared_->registry->scrape();
    } catch (const std::exception& e) {
      return reply(http::status::internal_server_error, std::string("metrics collection failed: ") + e.what() + "\n",
                   false);
    }
    response_ = {};
    response_.result(http::status::ok);
    response_.set(http::field::content_type, beast::string_view(metrics::kContentType.data(), metrics::kContentType.size()));
    response_.body() = std::move(body);
    response_.prepare_payload();
    if (method == http::verb::head) response_.body().clear();   // Content-Length stays
    send(keep_alive);
  }

  void reply(http::status status, std::string text, bool keep_alive, bool fresh = true) {
    if (fresh) response_ = {};
    response_.result(status);
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    response_.body() = std::move(text);
    response_.prepare_payload();
    send(keep_alive);
  }

  void send(bool keep_alive) {
    response_.version(11);
    response_.set(http::field::server, "stsd");
    response_.keep_alive(keep_alive);
    stream_.expires_after(kRequestTimeout);
    http::async_write(stream_, response_, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
      if (ec || !keep_alive) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  std::shared_ptr<MetricsHttpServer::Shared> shared_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

MetricsHttpServer::MetricsHttpServer(std::shared_ptr<MetricsRegistry> registry) : shared_(std::make_shared<Shared>()) {
  shared_->registry = std::move(registry);
}

MetricsHttpServer::~MetricsHttpServer() { stop(); }

std::vector<std::shared_ptr<MetricsHttpServer::Acceptor>> MetricsHttpServer::bind(
    const std::vector<tcp::endpoint>& endpoints) {
  std::vector<std::shared_ptr<Acceptor>> acceptors;
  for (const auto& endpoint : endpoints) {
    {
      // An address kept across a reload keeps its socket (binding it again would fail).
      std::lock_guard lock(acceptors_mutex_);
      auto same = std::find_if(acceptors_.begin(), acceptors_.end(), [&](const auto& a) {
        boost::system::error_code ec;
        return a->is_open() && a->local_endpoint(ec) == endpoint && !ec;
      });
      if (same != acceptors_.end()) {
        acceptors.push_back(*same);
        continue;
      }
    }
    auto acceptor = std::make_shared<Acceptor>(io_);
    boost::system::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec && endpoint.address().is_v6()) acceptor->set_option(net::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("metrics: cannot listen on " + endpoint_text(endpoint) + ": " + ec.message());
    acceptors.push_back(std::move(acceptor));
  }
  return acceptors;
}

void MetricsHttpServer::accept(std::shared_ptr<Acceptor> acceptor) {
  acceptor->async_accept([this, acceptor](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // E.g. out of file descriptors: try again shortly instead of spinning.
      auto timer = std::make_shared<net::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, acceptor, timer](boost::system::error_code) {
        if (acceptor->is_open()) accept(acceptor);
      });
      return;
    }
    if (shared_->connections.load(std::memory_order_relaxed) >= kMaxConnections) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(shared_, std::move(socket))->start();
    }
    accept(acceptor);
  });
}

void MetricsHttpServer::start(const std::vector<tcp::endpoint>& endpoints) {
  if (started_) return;
  auto acceptors = bind(endpoints);
  {
    std::lock_guard lock(acceptors_mutex_);
    acceptors_ = acceptors;
  }
  for (auto& acceptor : acceptors) accept(acceptor);
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      log::error(std::string("metrics: HTTP server stopped after an unexpected error: ") + e.what());
    }
  });
  started_ = true;
}

void MetricsHttpServer::rebind(const std::vector<tcp::endpoint>& endpoints) {
  auto fresh = bind(endpoints);   // throws before anything changes
  std::vector<std::shared_ptr<Acceptor>> old;
  {
    std::lock_guard lock(acceptors_mutex_);
    old.swap(acceptors_);
    acceptors_ = fresh;
  }
  net::post(io_, [this, old, fresh] {
    for (const auto& acceptor : old)
      if (std::find(fresh.begin(), fresh.end(), acceptor) == fresh.end()) {
        boost::system::error_code ignored;
        acceptor->close(ignored);
      }
    for (const auto& acceptor : fresh)
      if (std::find(old.begin(), old.end(), acceptor) == old.end()) accept(acceptor);
  });
}

void MetricsHttpServer::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  // Scrapes are cheap to repeat: nothing in flight is worth waiting for.
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(acceptors_mutex_);
  for (auto& acceptor : acceptors_) {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  }
}

std::vector<tcp::endpoint> MetricsHttpServer::local_endpoints() const {
  std::lock_guard lock(acceptors_mutex_);
  std::vector<tcp::endpoint> out;
  for (const auto& acceptor : acceptors_) {
    boost::system::error_code ec;
    auto endpoint = acceptor->local_endpoint(ec);
    if (!ec) out.push_back(endpoint);
  }
  return out;
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
  } catch (const std::exception&) {
  }
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

void MetricsService::start() {
  auto registry = metrics_registry(env_);
  if (!process_metrics_) process_metrics_ = register_process_metrics(*registry);
  auto server = std::make_unique<MetricsHttpServer>(registry);
  server->start(settings_.endpoints);
  server_ = std::move(server);
  std::string where;
  for (const auto& text : settings_.listen) where += (where.empty() ? "" : ", ") + text;
  log::info("metrics: serving http://" + where + "/metrics");
}

void MetricsService::stop() {
  if (server_) server_->stop();
  server_.reset();
  process_metrics_.reset();
}

void MetricsService::reload(const ConfigNode* section) {
  if (!section) {
    if (server_) log::info("metrics: section removed; /metrics is no longer served");
    stop();
    return;
  }
  auto settings = parse_exporter_settings(*section);
  auto where = section->get("listen");
  try {
    if (!server_) {
      settings_ = std::move(settings);
      start();
      return;
    }
    if (settings.endpoints != settings_.endpoints) {
      server_->rebind(settings.endpoints);
      log::info("metrics: now serving on " + settings.listen.front() + (settings.listen.size() > 1 ? " and more" : ""));
    }
  } catch (const std::runtime_error& error) {
    (where ? *where : *section).fail(error.what());
  }
  settings_ = std::move(settings);
}

}  // namespace stsd::metrics_plugin
