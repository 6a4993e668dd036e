// The plugin's answers to transfer requests, driven as the core drives them (the first
// message, then the stream over TCP): AXFR across many messages, IXFR over TCP and UDP
// (RFC 1995 §2, §4), AXFR over UDP, the ACL, and queries that pass on.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dns/edns.h"
#include "dns/rdata.h"
#include "dns/types.h"
#include "plugin_test_support.h"
#include "transfer_plugin.h"

using namespace stsd;
using namespace stsd::transfer;

namespace {

dns::Name name(const std::string& text) { return *dns::Name::from_text(text); }

zone::Content zone_content(const std::string& apex, uint32_t serial, size_t txt_records, const std::string& marker) {
  zone::Content content;
  content.serial = serial;
  content.records.push_back({name(apex), dns::rrtype::SOA, 3600,
                             dns::soa_rdata({name("ns1." + apex), name("h." + apex), serial, 3600, 600, 604800, 300})});
  content.records.push_back({name(apex), dns::rrtype::NS, 3600, dns::name_rdata(name("ns1." + apex))});
  for (size_t i = 0; i < txt_records; ++i)
    content.records.push_back({name("r" + std::to_string(i) + "." + apex), dns::rrtype::TXT, 300,
                               dns::txt_rdata(marker + std::string(150, 'x'))});
  return content;
}

class FakeSource final : public zone::Source {
 public:
  void set(const std::string& apex, zone::Content content) {
    std::lock_guard lock(mutex_);
    zones_[apex] = std::move(content);
  }
  void list(std::vector<zone::ZoneEntry>& out) const override {
    std::lock_guard lock(mutex_);
    for (const auto& [apex, content] : zones_) out.push_back({name(apex), content.serial});
  }
  std::optional<zone::Content> render(const dns::Name& apex) const override {
    std::lock_guard lock(mutex_);
    auto it = zones_.find(apex.to_text());
    if (it == zones_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, zone::Content> zones_;
};

struct Request {
  std::string qname;
  uint16_t qtype;
  dns::Transport transport = dns::Transport::Tcp;
  std::optional<uint32_t> ixfr_serial{};
  std::string client = "127.0.0.1";
  bool edns = false;
};

// A query packet (test::query_packet), with the client's SOA in the authority section for
// IXFR (RFC 1995 §3).
std::vector<uint8_t> packet_of(const Request& spec) {
  return test::query_packet({.qname = spec.qname,
                             .qtype = spec.qtype,
                             .transport = spec.transport,
                             .edns_size = spec.edns ? std::optional<uint16_t>(test::kResolverEdns) : std::nullopt,
                             .ixfr_serial = spec.ixfr_serial.value_or(0)});
}

struct Answer {
  bool passed_on = false;
  std::vector<test::Reply> messages;
  std::vector<std::string> records;  // every answer record of every message, in order
  std::vector<size_t> sizes;
};

class ServeTest : public ::testing::Test {
 protected:
  ServeTest() {
    tracker_ = std::make_shared<Tracker>(env_);
    handle_ = env_.shared<zone::Sources>(zone::Sources::kSharedKey, [] { return std::make_shared<zone::Sources>(); })
                  ->add("fake#0", source_);
    auto settings = std::make_shared<TransferSettings>();
    settings->allow.push_back({*net::parse_prefix("127.0.0.1"), std::nullopt});
    plugin_ = std::make_unique<TransferPlugin>(std::move(settings), tracker_);
  }

  Answer ask(const Request& spec) {
    const auto packet = packet_of(spec);
    dns::Request request;
    EXPECT_EQ(dns::decode_query(packet, request), dns::DecodeStatus::Ok);
    request.transport = spec.transport;
    request.client = boost::asio::ip::make_address(spec.client);
    std::vector<uint8_t> buffer(dns::ResponseWriter::kMaxMessage);
    dns::ResponseWriter writer(buffer);
    writer.begin(request, request.max_response_size());
    std::unique_ptr<ResponseStream> more;
    Query query{request, writer, spec.transport == dns::Transport::Tcp ? &more : nullptr};
    Answer answer;
    bool reached = false;
    Chain chain([&] {
      std::vector<std::unique_ptr<Plugin>> plugins;
      plugins.push_back(std::make_unique<test::Borrowed>(*plugin_));
      plugins.push_back(std::make_unique<test::Sentinel>(reached));
      return plugins;
    }());
    chain.serve(query);
    const auto collect = [&](std::span<const uint8_t> wire) {
      answer.sizes.push_back(wire.size());
      answer.messages.push_back(test::decode_reply(wire));
      for (const auto& record : answer.messages.back().answer) answer.records.push_back(record);
    };
    collect(writer.finish());
    while (more) {
      writer.begin(request, request.max_response_size());
      if (!more->next(writer)) break;
      collect(writer.finish());
    }
    answer.passed_on = reached;
    return answer;
  }

  void poll() { tracker_->poll_once(); }

  Environment env_{std::filesystem::temp_directory_path(), std::nullopt, std::make_shared<SystemClock>(), false};
  std::shared_ptr<FakeSource> source_ = std::make_shared<FakeSource>();
  std::shared_ptr<Tracker> tracker_;
  zone::Sources::Handle handle_;
  std::unique_ptr<TransferPlugin> plugin_;
};

size_t count_soa(const std::vector<std::string>& records) {
  return std::count_if(records.begin(), records.end(), [](const auto& r) { return r.find(" IN SOA ") != std::string::npos; });
}

TEST_F(ServeTest, AxfrOfALargeZoneRunsAcrossMessagesOfAtMost64KiB) {
  source_->set("big.example.", zone_content("big.example.", 7, 3000, "a"));
  poll();
  const Answer answer = ask({"big.example.", dns::rrtype::AXFR});
  ASSERT_GT(answer.messages.size(), 5u);
  for (size_t i = 0; i < answer.messages.size(); ++i) {
    EXPECT_EQ(answer.messages[i].rcode, "NOERROR");
    EXPECT_TRUE(answer.messages[i].aa);
    EXPECT_LE(answer.sizes[i], 65535u);
    // Filled: every message but the last is close to the limit.
    if (i + 1 < answer.messages.size()) {
      EXPECT_GT(answer.sizes[i], 60000u);
    }
  }
  ASSERT_EQ(answer.records.size(), 3000u + 3);
  EXPECT_NE(answer.records.front().find(" IN SOA "), std::string::npos);
  EXPECT_NE(answer.records.back().find(" IN SOA "), std::string::npos);
  EXPECT_EQ(count_soa(answer.records), 2u);
  EXPECT_EQ(tracker_->counters().transfers[TransferCounters::Axfr].load(), 1u);
  EXPECT_EQ(tracker_->counters().messages.load(), answer.messages.size());
}

TEST_F(ServeTest, IxfrOverTcpSendsTheDifferences) {
  source_->set("z.example.", zone_content("z.example.", 1, 3, "a"));
  poll();
  auto changed = zone_content("z.example.", 2, 3, "a");
  changed.records.pop_back();  // r2 removed
  changed.records.push_back({name("new.z.example."), dns::rrtype::TXT, 300, dns::txt_rdata("new")});
  source_->set("z.example.", changed);
  poll();
  const Answer answer = ask({"z.example.", dns::rrtype::IXFR, dns::Transport::Tcp, 1});
  ASSERT_EQ(answer.records.size(), 6u);
  EXPECT_EQ(answer.messages.front().soa_serial, "2");
  EXPECT_NE(answer.records[1].find(" 1 3600 600"), std::string::npos) << answer.records[1];
  EXPECT_NE(answer.records[2].find("r2.z.example."), std::string::npos) << answer.records[2];
  EXPECT_NE(answer.records[3].find(" 2 3600 600"), std::string::npos) << answer.records[3];
  EXPECT_NE(answer.records[4].find("new.z.example."), std::string::npos) << answer.records[4];
  EXPECT_EQ(tracker_->counters().transfers[TransferCounters::Ixfr].load(), 1u);

  const Answer up_to_date = ask({"z.example.", dns::rrtype::IXFR, dns::Transport::Tcp, 2});
  EXPECT_EQ(up_to_date.records.size(), 1u);
  const Answer unknown = ask({"z.example.", dns::rrtype::IXFR, dns::Transport::Tcp, 99999});
  EXPECT_EQ(unknown.records.size(), 1u);  // newer than ours: up to date (RFC 1995 §2)
  const Answer old = ask({"z.example.", dns::rrtype::IXFR, dns::Transport::Tcp, 0});
  EXPECT_EQ(old.records.size(), 3u + 3);  // never seen: the whole zone
}

TEST_F(ServeTest, IxfrOverUdpIsTheDifferenceWhenItFitsElseTheSoa) {
  source_->set("z.example.", zone_content("z.example.", 1, 40, "a"));
  poll();
  source_->set("z.example.", zone_content("z.example.", 2, 40, "b"));  // every TXT changes
  poll();
  auto small = zone_content("z.example.", 3, 40, "b");
  small.records.back().rdata = dns::txt_rdata("changed");  // one TXT changes
  source_->set("z.example.", small);
  poll();
  const Answer fits = ask({"z.example.", dns::rrtype::IXFR, dns::Transport::Udp, 2, "127.0.0.1", true});
  ASSERT_EQ(fits.messages.size(), 1u);
  EXPECT_EQ(fits.records.size(), 6u);  // SOA 3, SOA 2, old TXT, SOA 3, new TXT, SOA 3
  EXPECT_EQ(tracker_->counters().transfers[TransferCounters::IxfrUdp].load(), 1u);
  const Answer too_large = ask({"z.example.", dns::rrtype::IXFR, dns::Transport::Udp, 1, "127.0.0.1", true});
  ASSERT_EQ(too_large.messages.size(), 1u);
  EXPECT_FALSE(too_large.messages[0].tc);
  EXPECT_EQ(too_large.records.size(), 1u);
  EXPECT_EQ(too_large.messages[0].soa_serial, "3");
  EXPECT_EQ(tracker_->counters().transfers[TransferCounters::IxfrUdpTooLarge].load(), 1u);
}

TEST_F(ServeTest, RefusalsAndWhatPassesOn) {
  source_->set("z.example.", zone_content("z.example.", 1, 3, "a"));
  poll();
  Answer answer = ask({"z.example.", dns::rrtype::AXFR, dns::Transport::Udp, std::nullopt, "127.0.0.1", true});
  EXPECT_EQ(answer.messages[0].rcode, "NOTIMPL");  // ldns's name for NOTIMP
  EXPECT_TRUE(answer.messages[0].options.empty());  // not a policy: no EDE 18
  answer = ask({"z.example.", dns::rrtype::AXFR, dns::Transport::Tcp, std::nullopt, "127.0.0.2", true});
  EXPECT_EQ(answer.messages[0].rcode, "REFUSED");
  EXPECT_TRUE(answer.records.empty());
  EXPECT_EQ(tracker_->counters().refused[TransferCounters::Acl].load(), 1u);
  // RFC 8914 §4.19: refused by policy.
  const test::EdnsOption* ede = answer.messages[0].option(dns::edns_option::EXTENDED_ERROR);
  ASSERT_NE(ede, nullptr);
  const std::string text = "transfer not allowed";
  std::vector<uint8_t> expected{0, dns::extended_error::Prohibited};
  expected.insert(expected.end(), text.begin(), text.end());
  EXPECT_EQ(ede->data, expected);
  answer = ask({"other.example.", dns::rrtype::AXFR});
  EXPECT_TRUE(answer.passed_on);
  answer = ask({"z.example.", dns::rrtype::SOA});
  EXPECT_TRUE(answer.passed_on);
  // A zone its source no longer lists is no longer offered.
  source_ = std::make_shared<FakeSource>();
  handle_ = env_.find_shared<zone::Sources>(zone::Sources::kSharedKey)->add("fake#0", source_);
  poll();
  EXPECT_TRUE(ask({"z.example.", dns::rrtype::AXFR}).passed_on);
}

}  // namespace
