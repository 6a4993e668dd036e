// The `metrics` chain plugin counts what its chain answered; the `metrics:` service's
// config errors name file and line; its HTTP endpoint answers 200/404/405/400.
#include <gtest/gtest.h>

#include <functional>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "dns_metrics.h"
#include "environment.h"
#include "exporter.h"
#include "metrics_test_support.h"
#include "probes.h"
#include "readiness.h"
#include "plugin_test_support.h"

using namespace stsd;
using namespace stsd::metrics_test;
using namespace stsd::metrics;

namespace {

struct Fixture {
  Environment env{std::filesystem::temp_directory_path(), std::nullopt, std::make_shared<SystemClock>(), true};
  std::vector<std::string> listen{"127.0.0.1:5300", "[::1]:5300"};

  std::unique_ptr<test::ChainRunner> chain(const std::string& config = "{}") {
    const auto node = test::yaml_node(config, "servers[0].plugins.metrics");
    PendingLoad load;
    PluginSetup setup{env, node, listen, 0, load};
    std::vector<std::unique_ptr<Plugin>> plugins;
    plugins.push_back(metrics_plugin::make_metrics_plugin(setup));
    plugins.push_back(std::make_unique<Responder>());
    return std::make_unique<test::ChainRunner>(std::move(plugins));
  }

  void ask(test::ChainRunner& chain, const std::string& qname, uint16_t qtype, dns::Transport transport,
           std::chrono::microseconds age = std::chrono::microseconds(0)) {
    chain.run({.qname = qname, .qtype = qtype, .transport = transport, .age = age});
  }

  std::string scrape() { return metrics_registry(env)->scrape(); }
};

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsPlugin, CountsRequestsByProtoAndTypeAndResponsesByRcode) {
  Fixture f;
  auto chain = f.chain();
  struct Ask {
    const char* qname;
    uint16_t qtype;
    dns::Transport transport;
  };
  const Ask asks[] = {
      {"www.test.", dns::rrtype::A, dns::Transport::Udp},    {"www.test.", dns::rrtype::A, dns::Transport::Udp},
      {"www.test.", dns::rrtype::AAAA, dns::Transport::Tcp}, {"nx.test.", dns::rrtype::TXT, dns::Transport::Udp},
      {"pass.test.", dns::rrtype::MX, dns::Transport::Udp},  {"throw.test.", dns::rrtype::SOA, dns::Transport::Tcp},
      {"www.test.", dns::rrtype::SRV, dns::Transport::Udp},  {"www.test.", dns::rrtype::CAA, dns::Transport::Udp},
      {"cookie.test.", dns::rrtype::A, dns::Transport::Udp},
  };
  for (const auto& a : asks) f.ask(*chain, a.qname, a.qtype, a.transport);
  const auto text = f.scrape();
  const std::string s = "server=\"127.0.0.1:5300,[::1]:5300\"";
  EXPECT_TRUE(has_line(text, "stsd_dns_requests_total{" + s + ",proto=\"udp\",type=\"A\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_requests_total{" + s + ",proto=\"tcp\",type=\"AAAA\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_requests_total{" + s + ",proto=\"udp\",type=\"TXT\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_requests_total{" + s + ",proto=\"udp\",type=\"MX\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_requests_total{" + s + ",proto=\"tcp\",type=\"SOA\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_requests_total{" + s + ",proto=\"udp\",type=\"other\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_requests_total{" + s + ",proto=\"tcp\",type=\"A\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{" + s + ",rcode=\"NOERROR\"} 5")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{" + s + ",rcode=\"NXDOMAIN\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{" + s + ",rcode=\"REFUSED\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{" + s + ",rcode=\"SERVFAIL\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{" + s + ",rcode=\"BADCOOKIE\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{" + s + ",rcode=\"other\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_request_duration_seconds_count{" + s + "} 9")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_request_duration_seconds_bucket{" + s + ",le=\"+Inf\"} 9")) << text;
}

TEST(MetricsPlugin, DroppedAnswersAreRequestsWithoutAResponse) {
  Fixture f;
  const auto node = test::yaml_node("{}", "servers[0].plugins.metrics");
  PendingLoad load;
  PluginSetup setup{f.env, node, f.listen, 0, load};
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(metrics_plugin::make_metrics_plugin(setup));
  plugins.push_back(std::make_unique<Responder>());
  const Chain chain(std::move(plugins));
  std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
  dns::ResponseWriter writer(buffer);
  for (const char* qname : {"drop.test.", "drop.test.", "nx.test."}) {
    const auto packet = test::query_packet({.qname = qname});
    dns::Request request;
    ASSERT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
    request.received = std::chrono::steady_clock::now();
    writer.begin(request, request.max_response_size());
    Query query{request, writer};
    chain.serve(query);
  }
  const auto text = f.scrape();
  const std::string s = "server=\"127.0.0.1:5300,[::1]:5300\"";
  EXPECT_TRUE(has_line(text, "stsd_dns_requests_total{" + s + ",proto=\"udp\",type=\"A\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{" + s + ",rcode=\"NXDOMAIN\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_dropped_total{" + s + "} 2")) << text;
}

TEST(MetricsPlugin, DurationFallsInTheRightBucket) {
  Fixture f;
  auto chain = f.chain();
  f.ask(*chain, "www.test.", dns::rrtype::A, dns::Transport::Udp, std::chrono::milliseconds(3));
  f.ask(*chain, "www.test.", dns::rrtype::A, dns::Transport::Udp, std::chrono::seconds(2));
  const auto text = f.scrape();
  const std::string s = "server=\"127.0.0.1:5300,[::1]:5300\"";
  EXPECT_TRUE(has_line(text, "stsd_dns_request_duration_seconds_bucket{" + s + ",le=\"0.0025\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_request_duration_seconds_bucket{" + s + ",le=\"0.005\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_request_duration_seconds_bucket{" + s + ",le=\"1\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_request_duration_seconds_bucket{" + s + ",le=\"+Inf\"} 2")) << text;
  const auto sum_at = text.find("stsd_dns_request_duration_seconds_sum{" + s + "} ");
  ASSERT_NE(sum_at, std::string::npos);
  const double sum = std::stod(text.substr(text.find("} ", sum_at) + 2));
  EXPECT_GE(sum, 2.003);
  EXPECT_LT(sum, 3.0);
}

TEST(MetricsPlugin, CountersSurviveAReloadThatRebuildsTheChain) {
  Fixture f;
  auto first = f.chain();
  f.ask(*first, "www.test.", dns::rrtype::A, dns::Transport::Udp);
  auto second = f.chain();  // SIGHUP builds a new plugin for the same block
  first.reset();
  f.ask(*second, "www.test.", dns::rrtype::A, dns::Transport::Udp);
  const auto text = f.scrape();
  EXPECT_TRUE(
      has_line(text, "stsd_dns_requests_total{server=\"127.0.0.1:5300,[::1]:5300\",proto=\"udp\",type=\"A\"} 2"))
      << text;
  EXPECT_EQ(metrics_registry(f.env)->collector_count(), 1u);
}

TEST(MetricsPlugin, EachServerBlockHasItsOwnLabel) {
  Fixture f;
  auto a = f.chain();
  f.listen = {"127.0.0.2:53"};
  const auto node = test::yaml_node("{}", "servers[1].plugins.metrics");
  PendingLoad load;
  PluginSetup setup{f.env, node, f.listen, 1, load};
  test::ChainRunner b(metrics_plugin::make_metrics_plugin(setup));
  f.ask(b, "pass.test.", dns::rrtype::A, dns::Transport::Udp);
  const auto text = f.scrape();
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{server=\"127.0.0.2:53\",rcode=\"REFUSED\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "stsd_dns_responses_total{server=\"127.0.0.1:5300,[::1]:5300\",rcode=\"REFUSED\"} 0"))
      << text;
}

TEST(MetricsConfig, ErrorsNameFileLineAndKey) {
  Fixture f;
  struct Case {
    const char* what;
    std::function<void()> run;
    const char* expected;
  };
  const Case cases[] = {
      {"unknown plugin key", [&] { f.chain("{\n  zone: example.org.\n}"); },
       "/etc/stsd/stsd.yaml:2:3: servers[0].plugins.metrics.zone: unknown key 'zone'"},
      {"plugin given a list", [&] { f.chain("[a]"); },
       "/etc/stsd/stsd.yaml:1:1: servers[0].plugins.metrics: expected a map"},
      {"unknown service key",
       [] { metrics_plugin::parse_exporter_settings(test::yaml_node("listen: 127.0.0.1:9153\npath: /x", "metrics")); },
       "/etc/stsd/stsd.yaml:2:1: metrics.path: unknown key 'path' (known keys: listen)"},
      {"listen without port",
       [] { metrics_plugin::parse_exporter_settings(test::yaml_node("\nlisten: 127.0.0.1", "metrics")); },
       "/etc/stsd/stsd.yaml:2:9: metrics.listen: '127.0.0.1' is not ADDRESS:PORT"},
      {"IPv6 without brackets",
       [] { metrics_plugin::parse_exporter_settings(test::yaml_node("listen: ::1:9153", "metrics")); },
       "'::1:9153' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT"},
      {"port out of range",
       [] { metrics_plugin::parse_exporter_settings(test::yaml_node("listen: 127.0.0.1:70000", "metrics")); },
       "is not ADDRESS:PORT"},
      {"listed twice",
       [] {
         metrics_plugin::parse_exporter_settings(test::yaml_node("listen: [127.0.0.1:1, 127.0.0.1:1]", "metrics"));
       },
       "'127.0.0.1:1' is listed twice"},
      {"empty list", [] { metrics_plugin::parse_exporter_settings(test::yaml_node("listen: []", "metrics")); },
       "expected an address"},
  };
  for (const auto& c : cases) {
    try {
      c.run();
      ADD_FAILURE() << c.what << ": accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << c.what << ": " << e.what();
    }
  }
}

TEST(MetricsConfig, ListenDefaultsToCoreDnsPortOnLoopback) {
  for (const char* text : {"", "{}"}) {
    auto settings = metrics_plugin::parse_exporter_settings(test::yaml_node(text, "metrics"));
    ASSERT_EQ(settings.endpoints.size(), 1u) << text;
    EXPECT_EQ(settings.endpoints[0].address().to_string(), "127.0.0.1");
    EXPECT_EQ(settings.endpoints[0].port(), 9153);
  }
  auto v6 = metrics_plugin::parse_exporter_settings(test::yaml_node("listen: \"[::1]:9100\"", "metrics"));
  ASSERT_EQ(v6.endpoints.size(), 1u);
  EXPECT_EQ(v6.endpoints[0].address().to_string(), "::1");
}

// A raw HTTP exchange: what was sent is exactly what reaches the server.
std::string exchange(const boost::asio::ip::tcp::endpoint& endpoint, const std::string& request) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect(endpoint);
  boost::asio::write(socket, boost::asio::buffer(request));
  std::string response;
  boost::system::error_code ec;
  char chunk[4096];
  for (;;) {
    const size_t n = socket.read_some(boost::asio::buffer(chunk), ec);
    response.append(chunk, n);
    if (ec) break;
  }
  return response;
}

TEST(MetricsHttp, ServesMetricsAndRefusesTheRest) {
  auto registry = std::make_shared<MetricsRegistry>();
  auto handle = registry->add("test", [](MetricsWriter& w) { w.gauge("stsd_test_value", "t", {}, 7); });
  auto server = metrics_plugin::make_metrics_server(registry, std::make_shared<Readiness>());
  server->start({http::ListenAddress::tcp({boost::asio::ip::make_address("127.0.0.1"), 0})});
  const auto endpoint = server->tcp_endpoints().at(0);

  struct Case {
    std::string request;
    std::string status_line;
    std::string body_part;
  };
  const Case cases[] = {
      {"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK", "stsd_test_value 7\n"},
      {"GET /metrics?name[]=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK", "stsd_test_value"},
      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 404 Not Found", "/metrics, /healthz and /readyz"},
      {"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
       "HTTP/1.1 405 Method Not Allowed", "use GET"},
      {"NONSENSE\r\n\r\n", "HTTP/1.1 400 Bad Request", "malformed HTTP request"},
      {"GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", "HTTP/1.1 431",
       "request headers larger than 8192 bytes"},
      {"POST /metrics HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", "HTTP/1.1 413", "request body larger than 1024 bytes"},
  };
  for (const auto& c : cases) {
    const auto response = exchange(endpoint, c.request);
    EXPECT_EQ(response.rfind(c.status_line, 0), 0u) << c.request.substr(0, 40) << "\n" << response.substr(0, 300);
    EXPECT_NE(response.find(c.body_part), std::string::npos) << response.substr(0, 300);
  }
  const auto ok = exchange(endpoint, cases[0].request);
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"), std::string::npos) << ok;
  const auto not_allowed = exchange(endpoint, cases[3].request);
  EXPECT_NE(not_allowed.find("Allow: GET, HEAD"), std::string::npos) << not_allowed;

  // Keep-alive: two scrapes on one connection.
  const auto both = exchange(endpoint,
                             "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n"
                             "Connection: close\r\n\r\n");
  size_t count = 0;
  for (size_t at = both.find("HTTP/1.1 200 OK"); at != std::string::npos; at = both.find("HTTP/1.1 200 OK", at + 1))
    ++count;
  EXPECT_EQ(count, 2u) << both;
  server->stop();
}

}  // namespace

namespace {

// /healthz always; /readyz 503 naming the closed gates, 200 once all are open, 503 again
// while stopping; the same states as metrics.
TEST(MetricsHttp, HealthAndReadinessProbes) {
  auto registry = std::make_shared<MetricsRegistry>();
  auto readiness = std::make_shared<Readiness>();
  auto listeners = readiness->add_gate("listeners-bound");
  auto index = readiness->add_gate("store-index-loaded");
  auto readiness_metrics = metrics_plugin::register_readiness_metrics(*registry, readiness);
  auto server = metrics_plugin::make_metrics_server(registry, readiness);
  server->start({http::ListenAddress::tcp({boost::asio::ip::make_address("127.0.0.1"), 0})});
  const auto endpoint = server->tcp_endpoints().at(0);
  const auto get = [&](const std::string& path) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    return exchange(endpoint, request);
  };
  const auto body_of = [](const std::string& response) { return response.substr(response.find("\r\n\r\n") + 4); };

  struct Step {
    std::function<void()> change;
    std::string readyz_status;
    std::string readyz_body;
    std::string ready_metric;
    std::string index_metric;
  };
  const Step steps[] = {
      {[] {}, "HTTP/1.1 503",
       "not ready: waiting for listeners-bound, store-index-loaded\nclosed listeners-bound\nclosed store-index-loaded\n",
       "stsd_ready 0", "stsd_readiness_gate_open{gate=\"store-index-loaded\"} 0"},
      {[&] { index.open(); }, "HTTP/1.1 503",
       "not ready: waiting for listeners-bound\nclosed listeners-bound\nopen store-index-loaded\n", "stsd_ready 0",
       "stsd_readiness_gate_open{gate=\"store-index-loaded\"} 1"},
      {[&] { listeners.open(); }, "HTTP/1.1 200 OK", "ready\nopen listeners-bound\nopen store-index-loaded\n",
       "stsd_ready 1", "stsd_readiness_gate_open{gate=\"store-index-loaded\"} 1"},
      {[&] { readiness->set_stopping(); }, "HTTP/1.1 503",
       "not ready: stopping\nopen listeners-bound\nopen store-index-loaded\n", "stsd_ready 0",
       "stsd_readiness_gate_open{gate=\"store-index-loaded\"} 1"},
  };
  for (const auto& step : steps) {
    step.change();
    const auto health = get("/healthz");
    EXPECT_EQ(health.rfind("HTTP/1.1 200 OK", 0), 0u) << health;
    EXPECT_EQ(body_of(health), "ok\n");
    const auto ready = get("/readyz?verbose");
    EXPECT_EQ(ready.rfind(step.readyz_status, 0), 0u) << ready;
    EXPECT_EQ(body_of(ready), step.readyz_body);
    EXPECT_NE(ready.find("Cache-Control: no-store"), std::string::npos) << ready;
    const auto scrape = get("/metrics");
    EXPECT_TRUE(has_line(scrape, step.ready_metric)) << scrape;
    EXPECT_TRUE(has_line(scrape, step.index_metric)) << scrape;
  }
  const std::string post_request = "POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  const auto post = exchange(endpoint, post_request);
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  server->stop();
}

}  // namespace
