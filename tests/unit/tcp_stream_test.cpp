// Multi-message answers over TCP (plugin.h ResponseStream, RFC 5936 §2.2): a real
// TcpListeners on loopback, a test plugin whose AXFR answer streams N messages, and
// clients that read everything, read slowly, stop reading, or leave mid-answer. Also:
// the chain sees transfer queries, and nobody answering them means REFUSED.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "dns/rdata.h"
#include "server/query_processor.h"
#include "server/runtime.h"
#include "server/tcp_listener.h"

using namespace stsd;
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {
std::atomic<int> streams_alive{0};
std::atomic<bool> saw_more_over_udp{false};

// Messages 1..count, each one TXT record of `size` octets naming its index.
class NumberedStream final : public ResponseStream {
 public:
  NumberedStream(dns::Name owner, int count, size_t size) : owner_(owner), count_(count), size_(size) {
    ++streams_alive;
  }
  ~NumberedStream() override { --streams_alive; }
  bool next(dns::ResponseWriter& response) override {
    if (sent_ == count_) return false;
    ++sent_;
    response.start(dns::Rcode::NoError, true);
    std::string text = std::to_string(sent_);
    text.resize(size_, '.');
    response.add(dns::Section::Answer, {owner_, dns::rrtype::TXT, dns::rrclass::IN, 0, dns::txt_rdata(text)});
    return true;
  }

 private:
  dns::Name owner_;
  int count_;
  size_t size_;
  int sent_ = 0;
};

// AXFR for "<count>.<size>.stream." streams `count` more messages of `size` octets;
// everything else passes (so that the core answers REFUSED).
class StreamingPlugin final : public Plugin {
 public:
  std::string_view name() const override { return "streaming"; }
  void serve(Query& query, Next next) const override {
    const auto& q = query.request.question;
    if (q.type != dns::rrtype::AXFR || q.name.label_count() != 3) return next(query);
    if (!query.more) saw_more_over_udp = query.request.transport == dns::Transport::Udp;
    const int count = std::stoi(std::string(q.name.first_label()));
    const size_t size = std::stoul(std::string(q.name.parent().first_label()));
    query.response.start(dns::Rcode::NoError, true);
    query.response.add(dns::Section::Answer, {q.original, dns::rrtype::TXT, dns::rrclass::IN, 0,
                                              dns::txt_rdata("first")});
    if (query.more) *query.more = std::make_unique<NumberedStream>(q.name, count, size);
  }
};

std::shared_ptr<const Chain> chain() {
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<StreamingPlugin>());
  return std::make_shared<const Chain>(std::move(plugins));
}

std::vector<uint8_t> query_bytes(const std::string& name, uint16_t type, uint16_t id) {
  std::vector<uint8_t> p = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  const auto wire = dns::Name::from_text(name)->wire();
  p.insert(p.end(), wire.begin(), wire.end());
  const uint8_t tail[] = {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1};
  p.insert(p.end(), std::begin(tail), std::end(tail));
  return p;
}

void send(tcp::socket& socket, const std::vector<uint8_t>& message) {
  const uint8_t prefix[2] = {static_cast<uint8_t>(message.size() >> 8), static_cast<uint8_t>(message.size())};
  asio::write(socket, std::array{asio::buffer(prefix), asio::buffer(message)});
}

std::vector<uint8_t> receive(tcp::socket& socket) {
  uint8_t prefix[2];
  asio::read(socket, asio::buffer(prefix));
  std::vector<uint8_t> message(static_cast<size_t>(prefix[0] << 8 | prefix[1]));
  asio::read(socket, asio::buffer(message));
  return message;
}

uint16_t get16(const std::vector<uint8_t>& m, size_t at) { return static_cast<uint16_t>(m[at] << 8 | m[at + 1]); }

// The text of the single TXT answer of a message (the question is `qname_size` octets).
std::string txt_of(const std::vector<uint8_t>& m, size_t qname_size) {
  const size_t rdata = 12 + qname_size + 4 + 2 + 10;
  return std::string(m.begin() + static_cast<std::ptrdiff_t>(rdata + 1),
                     m.begin() + static_cast<std::ptrdiff_t>(rdata + 1 + m[rdata]));
}

// One worker's TCP listeners on 127.0.0.1, running on their own thread.
class Server {
 public:
  explicit Server(std::chrono::seconds io_timeout = 2s) {
    ListenerSettings settings;
    settings.tcp_io_timeout = io_timeout;
    listeners_ = std::make_unique<TcpListeners>(io_, std::vector{std::make_shared<ChainSlot>(chain())}, settings,
                                                open_);
    port_ = free_port();
    listeners_->bind({asio::ip::make_address("127.0.0.1"), port_}, 0);
    listeners_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    asio::post(io_, [this] { listeners_->stop(); });
    io_.stop();
    thread_.join();
  }
  tcp::socket connect() {
    tcp::socket socket(client_io_);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    return socket;
  }
  size_t open_connections() const { return open_.load(); }

 private:
  static uint16_t free_port() {
    asio::io_context io;
    tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    return probe.local_endpoint().port();
  }

  asio::io_context io_;
  asio::io_context client_io_;
  std::atomic<size_t> open_{0};
  std::unique_ptr<TcpListeners> listeners_;
  uint16_t port_ = 0;
  std::thread thread_;
};

template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds within = 5000ms) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}
}  // namespace

TEST(TcpStream, ThousandsOfMessagesThenThePipelinedQuery) {
  Server server;
  auto socket = server.connect();
  // The AXFR and a query pipelined behind it: the stream completes first (in order).
  auto axfr = query_bytes("3000.100.stream.", dns::rrtype::AXFR, 7);
  auto after = query_bytes("other.stream.", dns::rrtype::A, 8);
  send(socket, axfr);
  send(socket, after);
  const size_t qname_size = dns::Name::from_text("3000.100.stream.")->size();
  const auto first = receive(socket);
  EXPECT_EQ(get16(first, 0), 7);
  EXPECT_EQ(txt_of(first, qname_size), "first");
  for (int i = 1; i <= 3000; ++i) {
    const auto m = receive(socket);
    ASSERT_EQ(get16(m, 0), 7) << "message " << i << " has the request's ID";
    ASSERT_EQ(get16(m, 4), 1) << "message " << i << " echoes the question";
    ASSERT_EQ(txt_of(m, qname_size).substr(0, std::to_string(i).size() + 1), std::to_string(i) + ".");
  }
  const auto refused = receive(socket);
  EXPECT_EQ(get16(refused, 0), 8);
  EXPECT_EQ(refused[3] & 0x0f, static_cast<int>(dns::Rcode::Refused));
  EXPECT_TRUE(eventually([] { return streams_alive == 0; }));
}

// A client that takes its answer slowly holds no worker: another client on the same
// worker is answered meanwhile, and the slow one still gets every message.
TEST(TcpStream, SlowReaderDoesNotHoldTheWorker) {
  Server server(5s);
  auto slow = server.connect();
  slow.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
  send(slow, query_bytes("400.30000.stream.", dns::rrtype::AXFR, 1));  // 12 MB
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(streams_alive, 1);

  auto quick = server.connect();
  const auto started = std::chrono::steady_clock::now();
  send(quick, query_bytes("x.stream.", dns::rrtype::AXFR, 2));
  const auto answer = receive(quick);
  EXPECT_EQ(get16(answer, 0), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);

  size_t messages = 0;
  while (messages < 401) {
    receive(slow);
    ++messages;
    if (messages % 50 == 0) std::this_thread::sleep_for(100ms);  // reads in slow bursts
  }
  EXPECT_EQ(messages, 401u);
  EXPECT_TRUE(eventually([] { return streams_alive == 0; }));
}

// A client that stops taking the answer is closed at tcp_io_timeout, and its stream freed.
TEST(TcpStream, ClientThatStopsReadingIsClosedAtTheIoTimeout) {
  Server server(1s);
  auto stalled = server.connect();
  stalled.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
  send(stalled, query_bytes("400.30000.stream.", dns::rrtype::AXFR, 1));
  ASSERT_TRUE(eventually([] { return streams_alive == 1; }));
  EXPECT_TRUE(eventually([&] { return streams_alive == 0 && server.open_connections() == 0; }, 4000ms));
}

TEST(TcpStream, ClientLeavingMidAnswerFreesTheStream) {
  Server server;
  {
    auto leaving = server.connect();
    send(leaving, query_bytes("100000.1000.stream.", dns::rrtype::AXFR, 1));
    receive(leaving);
    receive(leaving);
    ASSERT_EQ(streams_alive, 1);
  }  // closed
  EXPECT_TRUE(eventually([&] { return streams_alive == 0 && server.open_connections() == 0; }));
  auto next = server.connect();
  send(next, query_bytes("2.10.stream.", dns::rrtype::AXFR, 5));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get16(receive(next), 0), 5);
}

// UDP gets no stream; a transfer query nobody answers is REFUSED (the chain sees it).
TEST(TcpStream, UdpHasNoStreamAndUnansweredTransfersAreRefused) {
  QueryProcessor processor;
  const auto c = chain();
  const auto loopback = asio::ip::make_address("127.0.0.1");
  auto axfr = query_bytes("3.10.stream.", dns::rrtype::AXFR, 1);
  saw_more_over_udp = false;
  auto udp = processor.process(axfr, dns::Transport::Udp, loopback, 53, *c, ListenerSettings{});
  EXPECT_EQ(udp[3] & 0x0f, 0);
  EXPECT_TRUE(saw_more_over_udp);

  auto ixfr = query_bytes("zone.example.", dns::rrtype::IXFR, 2);
  ixfr[9] = 1;  // one authority record: the SOA of the zone (RFC 1995 §3)
  const uint8_t soa[] = {0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0,
                         0,    0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  ixfr.insert(ixfr.end(), std::begin(soa), std::end(soa));
  for (const auto& query : {query_bytes("zone.example.", dns::rrtype::AXFR, 3), ixfr}) {
    for (auto transport : {dns::Transport::Udp, dns::Transport::Tcp}) {
      std::unique_ptr<ResponseStream> more;
      auto answer = processor.process(query, transport, loopback, 53, *c, ListenerSettings{},
                                      transport == dns::Transport::Tcp ? &more : nullptr);
      ASSERT_GE(answer.size(), 12u);
      EXPECT_EQ(answer[3] & 0x0f, static_cast<int>(dns::Rcode::Refused));
      EXPECT_FALSE(more);
    }
  }
}
