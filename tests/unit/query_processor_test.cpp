// What the core adds to every answer on its own: NSID (RFC 5001) when the server block has
// one and the client asks, TCP keepalive (RFC 7828) over TCP when the client asks, and
// nothing at all for an answer a plugin dropped.
#include "server/query_processor.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

using namespace stsd;

namespace {
class AnswerPlugin : public Plugin {
 public:
  explicit AnswerPlugin(bool drop) : drop_(drop) {}
  std::string_view name() const override { return "answer"; }
  void serve(Query& query, Next) const override {
    query.response.start(dns::Rcode::NoError, true);
    if (drop_) query.response.drop();
  }

 private:
  bool drop_;
};

std::shared_ptr<const Chain> chain(std::vector<uint8_t> nsid, bool drop = false) {
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<AnswerPlugin>(drop));
  return std::make_shared<const Chain>(std::move(plugins), std::move(nsid));
}

// A query for example.org A, with an OPT carrying `options` when `edns`.
std::vector<uint8_t> query(bool edns, std::vector<uint8_t> options = {}) {
  std::vector<uint8_t> p = {0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, static_cast<uint8_t>(edns ? 1 : 0),
                            7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1};
  if (edns) {
    const uint8_t head[] = {0, 0, 41, 4, 208, 0, 0, 0, 0, static_cast<uint8_t>(options.size() >> 8),
                            static_cast<uint8_t>(options.size())};
    p.insert(p.end(), std::begin(head), std::end(head));
    p.insert(p.end(), options.begin(), options.end());
  }
  return p;
}

// The data of option `code` in the answer's OPT (the last record), nullopt when absent.
std::optional<std::vector<uint8_t>> option_in(std::span<const uint8_t> answer, uint16_t code) {
  // The answers here have a 29-octet header + question and then only the OPT record.
  if (answer.size() < 29 + 11) return std::nullopt;
  size_t at = 29 + 11;
  const size_t end = answer.size();
  while (at + 4 <= end) {
    const uint16_t c = static_cast<uint16_t>(answer[at] << 8 | answer[at + 1]);
    const size_t length = static_cast<size_t>(answer[at + 2] << 8 | answer[at + 3]);
    if (c == code) return std::vector<uint8_t>(answer.begin() + at + 4, answer.begin() + at + 4 + length);
    at += 4 + length;
  }
  return std::nullopt;
}

const auto kClient = boost::asio::ip::make_address("127.0.0.1");
const std::vector<uint8_t> kAskNsid = {0, 3, 0, 0};
const std::vector<uint8_t> kAskKeepalive = {0, 11, 0, 0};
}  // namespace

TEST(QueryProcessor, NsidOnlyWhenConfiguredAndAskedFor) {
  QueryProcessor processor;
  const ListenerSettings settings;
  const auto named = chain({'n', 's', '1'});
  const auto unnamed = chain({});
  auto answer = processor.process(query(true, kAskNsid), dns::Transport::Udp, kClient, 53, *named, settings);
  EXPECT_EQ(option_in(answer, 3), (std::vector<uint8_t>{'n', 's', '1'}));
  answer = processor.process(query(true), dns::Transport::Udp, kClient, 53, *named, settings);
  EXPECT_FALSE(option_in(answer, 3));
  answer = processor.process(query(true, kAskNsid), dns::Transport::Udp, kClient, 53, *unnamed, settings);
  EXPECT_FALSE(option_in(answer, 3));
  answer = processor.process(query(false), dns::Transport::Udp, kClient, 53, *named, settings);
  EXPECT_EQ(answer.size(), 29u);  // no OPT without EDNS
}

TEST(QueryProcessor, KeepaliveOverTcpOnlyInTenthsOfASecond) {
  QueryProcessor processor;
  ListenerSettings settings;
  settings.tcp_idle_timeout = std::chrono::seconds(10);
  const auto c = chain({});
  auto answer = processor.process(query(true, kAskKeepalive), dns::Transport::Tcp, kClient, 53, *c, settings);
  EXPECT_EQ(option_in(answer, 11), (std::vector<uint8_t>{0, 100}));  // 100 × 100 ms
  answer = processor.process(query(true, kAskKeepalive), dns::Transport::Udp, kClient, 53, *c, settings);
  EXPECT_FALSE(option_in(answer, 11));  // RFC 7828 §3.3.1
  answer = processor.process(query(true), dns::Transport::Tcp, kClient, 53, *c, settings);
  EXPECT_FALSE(option_in(answer, 11));  // §3.3.2: only to a client that sent it
}

TEST(QueryProcessor, ADroppedAnswerSendsNothing) {
  QueryProcessor processor;
  const auto c = chain({}, true);
  EXPECT_TRUE(processor.process(query(true), dns::Transport::Udp, kClient, 53, *c, ListenerSettings{}).empty());
}
