// The NOTIFY sender over real UDP on loopback, against test secondaries that answer,
// stay silent or refuse (test_secondary.h); outcomes are read from the metrics scrape.
#include "notifier.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <set>
#include <sstream>

#include "metrics.h"
#include "net/address.h"
#include "test_secondary.h"
#include "zone/transfer_lag.h"

namespace stsd::transfer {
namespace {

using namespace std::chrono_literals;
using test::TestSecondary;

dns::Name name(const std::string& text) { return *dns::Name::from_text(text); }

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct NotifierTest : ::testing::Test {
  Environment env{std::filesystem::temp_directory_path(), std::nullopt, std::make_shared<SystemClock>(), false};

  static NotifySettings settings_for(std::initializer_list<const TestSecondary*> secondaries) {
    NotifySettings settings;
    for (const auto* secondary : secondaries) settings.targets.push_back({secondary->endpoint(), ""});
    settings.retries = 2;
    settings.retry_interval = 100ms;
    settings.rate = 1000;
    return settings;
  }

  double metric(const std::string& sample) { return test::metric_value(env, sample); }
  static std::string of(const TestSecondary& secondary) {
    return "{target=\"" + net::endpoint_text(secondary.endpoint().address(), secondary.endpoint().port()) + "\"}";
  }
  static std::string failed(const TestSecondary& secondary, const std::string& reason) {
    return "stsd_notify_failed_total{target=\"" +
           net::endpoint_text(secondary.endpoint().address(), secondary.endpoint().port()) + "\",reason=\"" + reason +
           "\"}";
  }
  static bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
    return test::eventually(condition, timeout);
  }
};

TEST_F(NotifierTest, SendsANotifyForTheZoneAndCountsTheAnswer) {
  TestSecondary secondary(test::answer_with(0));
  Notifier notifier(settings_for({&secondary}), {}, env);
  notifier.start();
  notifier.zone_changed(name("Example.COM."), 7, unix_now());
  ASSERT_TRUE(eventually([&] { return metric("stsd_notify_answered_total" + of(secondary)) == 1; }));
  const auto received = secondary.received();
  ASSERT_EQ(received.size(), 1u);
  const auto& packet = received[0].packet;
  EXPECT_EQ((received[0].flags() >> 11) & 0xf, 4) << "opcode NOTIFY (RFC 1996 §3.1)";
  EXPECT_TRUE(received[0].flags() & 0x0400) << "AA";
  EXPECT_FALSE(received[0].flags() & 0x8000) << "a request";
  EXPECT_EQ(packet[4] << 8 | packet[5], 1) << "one question";
  EXPECT_EQ(received[0].qname(), "example.com.");
  const size_t type_at = 12 + name("example.com.").size();
  EXPECT_EQ(packet[type_at] << 8 | packet[type_at + 1], 6) << "SOA";
  EXPECT_EQ(packet[type_at + 2] << 8 | packet[type_at + 3], 1) << "IN";
  EXPECT_EQ(metric("stsd_notify_sent_total" + of(secondary)), 1);
  EXPECT_EQ(metric("stsd_notify_retried_total" + of(secondary)), 0);
  EXPECT_EQ(metric("stsd_notify_in_flight" + of(secondary)), 0);
}

TEST_F(NotifierTest, RetriesWithADoublingIntervalThenGivesUp) {
  TestSecondary silent(test::never_answer());
  auto settings = settings_for({&silent});
  settings.retries = 3;
  settings.retry_interval = 100ms;
  Notifier notifier(settings, {}, env);
  notifier.start();
  notifier.zone_changed(name("example.com."), 1, unix_now());
  // Tries at 0, 100, 300, 700 ms; given up at 1500 ms.
  ASSERT_TRUE(eventually([&] { return metric(failed(silent, "timeout")) == 1; }, 4s));
  const auto received = silent.received();
  ASSERT_EQ(received.size(), 4u);
  for (size_t i = 1; i < received.size(); ++i) {
    EXPECT_EQ(received[i].id(), received[0].id()) << "a retry is the same NOTIFY";
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(received[i].at - received[i - 1].at);
    const auto expected = 100ms * (1 << (i - 1));
    EXPECT_GE(gap, expected - 5ms) << "try " << i;
    EXPECT_LT(gap, expected + 250ms) << "try " << i;
  }
  EXPECT_EQ(metric("stsd_notify_sent_total" + of(silent)), 4);
  EXPECT_EQ(metric("stsd_notify_retried_total" + of(silent)), 3);
  EXPECT_EQ(metric("stsd_notify_answered_total" + of(silent)), 0);
  EXPECT_EQ(metric(failed(silent, "rcode")), 0);
}

TEST_F(NotifierTest, AnErrorAnswerFailsWithoutRetrying) {
  struct Case {
    const char* name;
    uint16_t rcode;
  };
  for (const Case& c : {Case{"NOTAUTH", 9}, Case{"REFUSED", 5}, Case{"NOTIMP", 4}, Case{"SERVFAIL", 2}}) {
    SCOPED_TRACE(c.name);
    TestSecondary refusing(test::answer_with(c.rcode));
    Notifier notifier(settings_for({&refusing}), {}, env);
    notifier.start();
    notifier.zone_changed(name("example.com."), 1, unix_now());
    ASSERT_TRUE(eventually([&] { return metric(failed(refusing, "rcode")) == 1; }));
    std::this_thread::sleep_for(400ms);  // past two retry intervals: nothing more is sent
    EXPECT_EQ(refusing.count(), 1u);
    EXPECT_EQ(metric("stsd_notify_retried_total" + of(refusing)), 0);
    EXPECT_EQ(metric(failed(refusing, "timeout")), 0);
  }
}

TEST_F(NotifierTest, AnswersFromAnotherSourceOrForAnotherZoneAreIgnored) {
  // The secondary's answer carries a question for another zone: not an answer to this
  // NOTIFY (RFC 1996 §4.7), so the sender keeps trying and times out.
  TestSecondary confused([](const std::vector<uint8_t>& request) -> std::optional<std::vector<uint8_t>> {
    auto reply = *test::answer_with(0)(request);
    reply[13] = 'x';  // "example.com" becomes "xxample.com"
    return reply;
  });
  Notifier notifier(settings_for({&confused}), {}, env);
  notifier.start();
  notifier.zone_changed(name("example.com."), 1, unix_now());
  ASSERT_TRUE(eventually([&] { return metric(failed(confused, "timeout")) == 1; }));
  EXPECT_EQ(confused.count(), 3u);
  EXPECT_EQ(metric("stsd_notify_answered_total" + of(confused)), 0);
}

TEST_F(NotifierTest, TheRateLimitHoldsForAllTargetsTogether) {
  TestSecondary first(test::answer_with(0));
  TestSecondary second(test::answer_with(0));
  auto settings = settings_for({&first, &second});
  settings.rate = 100;  // messages per second, both targets together; bursts of 10
  Notifier notifier(settings, {}, env);
  notifier.start();
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 500; ++i) notifier.zone_changed(name("d" + std::to_string(i) + ".example."), 1, unix_now());
  std::this_thread::sleep_for(2s);
  const size_t sent = first.count() + second.count();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LE(sent, static_cast<size_t>(100 * seconds + 10 + 2)) << "within the rate plus one burst";
  EXPECT_GE(sent, static_cast<size_t>(100 * 2 * 0.8)) << "and not far below it";
  // Zones go to both targets alike, in order.
  EXPECT_LE(std::max(first.count(), second.count()) - std::min(first.count(), second.count()), 1u);
}

TEST_F(NotifierTest, AZoneQueuedManyTimesIsAnnouncedOnceAtItsNewestSerial) {
  TestSecondary secondary(test::answer_with(0));
  auto settings = settings_for({&secondary});
  settings.rate = 2;  // the first NOTIFY takes the only token; the rest wait in the queue
  Notifier notifier(settings, {}, env);
  notifier.start();
  notifier.zone_changed(name("a.example."), 1, unix_now());
  for (uint32_t serial = 1; serial <= 1000; ++serial) notifier.zone_changed(name("b.example."), serial, unix_now());
  ASSERT_EQ(secondary.wait_for(2, 3s), 2u);
  std::this_thread::sleep_for(1s);
  const auto received = secondary.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].qname(), "a.example.");
  EXPECT_EQ(received[1].qname(), "b.example.");
  EXPECT_EQ(metric("stsd_notify_dropped_total{reason=\"queue\"}"), 0);
}

TEST_F(NotifierTest, ABurstBeyondTheQueueLimitDropsTheOldestAndNeverBlocks) {
  TestSecondary secondary(test::answer_with(0));
  auto settings = settings_for({&secondary});
  settings.rate = 50;  // bursts of 5
  settings.queue_limit = 10;
  Notifier notifier(settings, {}, env);
  notifier.start();
  const auto started = std::chrono::steady_clock::now();
  constexpr int kZones = 100'000;
  for (int i = 0; i < kZones; ++i) notifier.zone_changed(name("d" + std::to_string(i) + ".example."), 1, unix_now());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // Sending them all at 50 per second would take over half an hour.
  EXPECT_LT(seconds, 20) << "zone_changed must not wait for the network";
  const double dropped = metric("stsd_notify_dropped_total{reason=\"queue\"}");
  EXPECT_GE(dropped, kZones - 10 - (50 * seconds + 5 + 2)) << "only what the rate let through was not dropped";
  const size_t announced = kZones - static_cast<size_t>(dropped);
  ASSERT_EQ(secondary.wait_for(announced, 3s), announced);
  std::set<std::string> names;
  for (const auto& received : secondary.received()) names.insert(received.qname());
  for (int i = kZones - 10; i < kZones; ++i)
    EXPECT_TRUE(names.contains("d" + std::to_string(i) + ".example.")) << "the newest zones stay queued: " << i;
  EXPECT_EQ(metric("stsd_notify_queue_length"), 0);
}

TEST_F(NotifierTest, RetriesWaitingForTheRateLimitSleepInsteadOfSpinning) {
  TestSecondary silent(test::never_answer());
  auto settings = settings_for({&silent});
  settings.rate = 2;  // one token every half second
  settings.retries = 10;
  settings.retry_interval = 10ms;  // retries fall due far faster than tokens come
  Notifier notifier(settings, {}, env);
  notifier.start();
  for (int i = 0; i < 5; ++i) notifier.zone_changed(name("d" + std::to_string(i) + ".example."), 1, unix_now());
  const auto cpu = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  };
  const double before = cpu();
  std::this_thread::sleep_for(1500ms);
  EXPECT_LT(cpu() - before, 0.3) << "the NOTIFY thread waits for the next token";
  const size_t sent = silent.count();
  EXPECT_GE(sent, 2u);
  EXPECT_LE(sent, 5u) << "two per second, one burst";
}

TEST_F(NotifierTest, ASilentTargetDoesNotHoldBackAnAnsweringOne) {
  TestSecondary silent(test::never_answer());
  TestSecondary answering(test::answer_with(0));
  auto settings = settings_for({&silent, &answering});
  settings.retry_interval = 1s;
  Notifier notifier(settings, {}, env);
  notifier.start();
  for (int i = 0; i < 20; ++i) notifier.zone_changed(name("d" + std::to_string(i) + ".example."), 1, unix_now());
  ASSERT_TRUE(eventually([&] { return metric("stsd_notify_answered_total" + of(answering)) == 20; }, 900ms));
  EXPECT_EQ(metric("stsd_notify_in_flight" + of(silent)), 20);
}

TEST_F(NotifierTest, AReconfigurationKeepsWhatIsQueuedAndSwitchesTargets) {
  TestSecondary before(test::answer_with(0));
  TestSecondary after(test::answer_with(0));
  auto settings = settings_for({&before});
  settings.rate = 1;
  Notifier notifier(settings, {}, env);
  notifier.start();
  notifier.zone_changed(name("a.example."), 1, unix_now());
  notifier.zone_changed(name("b.example."), 1, unix_now());  // waits about a second for a token
  ASSERT_EQ(before.wait_for(1, 2s), 1u);
  auto next = settings_for({&after});
  next.rate = 1;
  notifier.reconfigure(next, {});
  ASSERT_EQ(after.wait_for(1, 3s), 1u);
  EXPECT_EQ(after.received()[0].qname(), "b.example.");
  EXPECT_EQ(before.count(), 1u);
  EXPECT_TRUE(eventually([&] { return metric("stsd_notify_answered_total" + of(after)) == 1; }));
  EXPECT_EQ(metric("stsd_notify_sent_total" + of(before)), 0) << "a removed target leaves the scrape";
}

TEST_F(NotifierTest, ATargetWithAKeyGetsSignedNotifiesAndRejectsUnsignedAnswers) {
  // The secondary answers NOERROR without a TSIG: for a signed NOTIFY that is no answer
  // from the key's holder (RFC 8945 §5.3.2), so it fails as `tsig`, without retries.
  TestSecondary unsigned_answers(test::answer_with(0));
  auto settings = settings_for({&unsigned_answers});
  settings.targets[0].key = "xfr-key";
  const dns::tsig::Key key{name("xfr-key."), dns::tsig::Algorithm::HmacSha256,
                           *dns::tsig::decode_secret("c3RzZC1leGFtcGxlLXNlY3JldC0wMTIzNDU2Nzg5YWI=")};
  Notifier notifier(settings, {key}, env);
  notifier.start();
  notifier.zone_changed(name("example.com."), 1, unix_now());
  ASSERT_TRUE(eventually([&] { return metric(failed(unsigned_answers, "tsig")) == 1; }));
  const auto received = unsigned_answers.received();
  ASSERT_EQ(received.size(), 1u);
  const auto& packet = received[0].packet;
  EXPECT_EQ(packet[10] << 8 | packet[11], 1) << "ARCOUNT: the TSIG record";
  // The TSIG record ends the message: owner "xfr-key.", then TYPE 250 (RFC 8945 §4.2).
  const size_t tsig_at = 12 + name("example.com.").size() + 4;
  ASSERT_GT(packet.size(), tsig_at + name("xfr-key.").size() + 2);
  EXPECT_EQ(std::string(packet.begin() + static_cast<ptrdiff_t>(tsig_at) + 1,
                        packet.begin() + static_cast<ptrdiff_t>(tsig_at) + 8),
            "xfr-key");
  const size_t type_at = tsig_at + name("xfr-key.").size();
  EXPECT_EQ(packet[type_at] << 8 | packet[type_at + 1], 250);
  EXPECT_EQ(metric("stsd_notify_answered_total" + of(unsigned_answers)), 0);
}

TEST_F(NotifierTest, TargetsAddedByAReconfigurationAfterAStartWithNone) {
  TestSecondary secondary(test::answer_with(0));
  Notifier notifier(NotifySettings{}, {}, env);
  notifier.start();
  std::this_thread::sleep_for(50ms);  // the thread has nothing to wait for
  notifier.reconfigure(settings_for({&secondary}), {});
  notifier.zone_changed(name("example.com."), 1, unix_now());
  EXPECT_EQ(secondary.wait_for(1, 3s), 1u);
}

TEST_F(NotifierTest, ASecondaryHoldingAChangeFeedsTheTransferLag) {
  NotifySettings settings;  // no targets: the lag is measured all the same
  Notifier notifier(settings, {}, env);
  notifier.start();
  const auto secondary = boost::asio::ip::make_address("192.0.2.53");
  notifier.zone_changed(name("example.com."), 10, 1000);
  notifier.secondary_has(secondary, name("example.com."), 10, 1004);
  auto lag = env.find_shared<zone::TransferLag>(zone::TransferLag::kSharedKey);
  ASSERT_TRUE(lag);
  ASSERT_TRUE(lag->worst());
  EXPECT_EQ(lag->worst()->count(), 4);
  EXPECT_EQ(metric("stsd_transfer_lag_seconds"), 4);
  EXPECT_EQ(metric("stsd_transfer_secondary_lag_seconds{secondary=\"192.0.2.53\"}"), 4);
}

}  // namespace
}  // namespace stsd::transfer
