// The NOTIFY sender (notifier.h). One thread runs an io_context: callers only queue a zone
// under a short lock and wake it; the thread sends within a token bucket, matches answers
// by ID and source, retries with a doubling interval and counts every outcome.
#include "notifier.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lag_tracker.h"
#include "logging.h"
#include "metrics.h"
#include "net/address.h"
#include "notify_key.h"
#include "notify_message.h"
#include "notify_queue.h"
#include "throttled_log.h"
#include "token_bucket.h"
#include "zone/transfer_lag.h"

namespace stsd::transfer {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using SteadyClock = std::chrono::steady_clock;

namespace {

// NOTIFYs awaiting an answer per target. IDs are 16 bits and an answer is matched by ID
// and source, so the IDs in flight to one target must stay few and distinct; a target
// that stops answering then costs at most this many pending retries.
constexpr size_t kMaxInFlightPerTarget = 4096;

enum class Failure : uint8_t { Timeout, Rcode, Tsig };
constexpr std::string_view kFailureNames[] = {"timeout", "rcode", "tsig"};

// Counters of one target; kept across reloads for a target that stays.
struct TargetStats {
  std::atomic<uint64_t> sent{0}, retried{0}, answered{0}, in_flight{0};
  std::atomic<uint64_t> failed[std::size(kFailureNames)] = {};
};

bool same_key(const dns::tsig::Key* a, const dns::tsig::Key* b) {
  if (!a || !b) return a == b;
  return a->name == b->name && a->algorithm == b->algorithm && a->secret == b->secret;
}

std::string zone_key(const dns::Name& apex) {
  const auto wire = apex.lowered().wire();
  return {reinterpret_cast<const char*>(wire.data()), wire.size()};
}

// The wall clock for TSIG: the secondary checks the signing time against its own clock
// (RFC 8945 §5.2.3), so a test clock that moves stsd's time must not move it.
int64_t wall_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct Notifier::Impl {
  // One NOTIFY to one target, from its first try to its answer or its last timeout.
  struct Transaction {
    dns::Name apex;
    uint32_t serial = 0;
    unsigned tries = 0;
    uint64_t sequence = 0;         // of its latest try: a deadline of an earlier try, or of a replaced NOTIFY, is stale
    std::vector<uint8_t> message;  // unsigned; signed afresh per try
    std::vector<dns::tsig::SignedRequest> signatures;  // one per try: a late answer to any verifies
  };
  struct Target {
    udp::endpoint endpoint;
    std::string text;
    const dns::tsig::Key* key = nullptr;  // into `keys`
    std::shared_ptr<TargetStats> stats;
    std::unordered_map<uint16_t, Transaction> in_flight;
    std::unordered_map<std::string, uint16_t> in_flight_by_zone;  // the ID of each zone's pending NOTIFY
  };
  struct Deadline {
    SteadyClock::time_point at;
    uint64_t generation;  // of `targets`: a reconfiguration makes older entries stale
    size_t target;
    uint16_t id;
    uint64_t sequence;
    bool operator>(const Deadline& other) const { return at > other.at; }
  };
  struct Config {
    NotifySettings settings;
    std::vector<dns::tsig::Key> keys;
  };

  Impl(NotifySettings settings, std::vector<dns::tsig::Key> keys, Environment& env)
      : env(env),
        transfer_lag(env.shared<zone::TransferLag>(zone::TransferLag::kSharedKey,
                                                   [] { return std::make_shared<zone::TransferLag>(); })),
        queue(settings.queue_limit),
        timer(io),
        random(std::random_device{}()) {
    validate_keys(settings, keys);
    pending_config = std::make_unique<Config>(Config{std::move(settings), std::move(keys)});
  }

  static void validate_keys(const NotifySettings& settings, const std::vector<dns::tsig::Key>& keys) {
    for (const auto& target : settings.targets)
      if (!target.key.empty() && !find_key(keys, target.key))
        throw std::invalid_argument("notify target " +
                                    net::endpoint_text(target.endpoint.address(), target.endpoint.port()) +
                                    ": no key named " + target.key);
  }

  // ---- shared with callers (under `mutex`) -------------------------------------------
  Environment& env;
  std::shared_ptr<zone::TransferLag> transfer_lag;
  std::mutex mutex;
  NotifyQueue queue;
  std::unique_ptr<Config> pending_config;  // a reconfiguration the thread has not applied
  std::atomic<uint64_t> dropped_queue{0}, dropped_in_flight{0};
  std::mutex stats_mutex;
  std::map<std::string, std::shared_ptr<TargetStats>> stats_by_target;  // for the scrape
  std::mutex lag_mutex;
  LagTracker lag;
  log::ThrottledLog warnings;
  std::atomic<bool> wake_posted{false};
  metrics::MetricsRegistry::Registration metrics_registration;

  // ---- the thread's own ---------------------------------------------------------------
  asio::io_context io;
  // Keeps run() going while nothing is pending (no target yet: no socket, no timer).
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  asio::steady_timer timer;
  std::optional<udp::socket> socket_v4, socket_v6;
  std::array<uint8_t, 65535> receive_buffer_v4{}, receive_buffer_v6{};
  udp::endpoint sender_v4, sender_v6;
  std::unique_ptr<Config> config;
  std::vector<Target> targets;
  uint64_t generation = 0;
  uint64_t sends = 0;
  TokenBucket tokens;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines;
  std::mt19937 random;

  void start() {
    register_metrics();
    work.emplace(io.get_executor());
    asio::post(io, [this] { pump(); });
    thread = std::thread([this] {
      try {
        io.run();
      } catch (const std::exception& e) {
        log::error(std::string("transfer: the NOTIFY thread stopped: ") + e.what());
      }
    });
  }

  void stop() {
    metrics_registration.reset();
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }

  void wake() {
    if (!wake_posted.exchange(true))
      asio::post(io, [this] {
        wake_posted.store(false);
        pump();
      });
  }

  // ---- callers ----------------------------------------------------------------------
  void zone_changed(const dns::Name& apex, uint32_t serial, int64_t at) {
    {
      std::lock_guard lock(lag_mutex);
      lag.announced(apex, serial, at);
    }
    size_t dropped = 0;
    {
      std::lock_guard lock(mutex);
      dropped = queue.push(apex, serial);
    }
    if (dropped) {
      dropped_queue.fetch_add(dropped, std::memory_order_relaxed);
      warnings.report(
          "transfer: the NOTIFY queue is full; dropped the oldest waiting zone (secondaries still refresh "
          "on their SOA timers)");
    }
    wake();
  }

  void reconfigure(NotifySettings settings, std::vector<dns::tsig::Key> keys) {
    validate_keys(settings, keys);
    {
      std::lock_guard lock(mutex);
      queue.set_limit(settings.queue_limit);
      pending_config = std::make_unique<Config>(Config{std::move(settings), std::move(keys)});
    }
    wake();
  }

  void secondary_has(const asio::ip::address& secondary, const dns::Name& apex, uint32_t serial, int64_t at) {
    std::optional<int64_t> seen;
    {
      std::lock_guard lock(lag_mutex);
      seen = lag.secondary_has(secondary, apex, serial, at);
    }
    if (seen) transfer_lag->observe(std::chrono::seconds(*seen));
  }

  // ---- the thread -------------------------------------------------------------------
  // Every event ends here: apply a new config, retry or give up what timed out, send what
  // waits while the rate allows, then sleep until the next deadline or token.
  void pump() {
    apply_pending_config();
    const auto now = SteadyClock::now();
    tokens.refill(now);
    const bool retries_waiting = process_deadlines(now);
    const bool zones_waiting = !retries_waiting && dispatch_zones();
    arm_timer(now, retries_waiting || zones_waiting);
  }

  void apply_pending_config() {
    std::unique_ptr<Config> next;
    {
      std::lock_guard lock(mutex);
      next = std::move(pending_config);
    }
    if (!next) return;
    std::vector<Target> next_targets;
    for (const auto& wanted : next->settings.targets) {
      Target target;
      target.endpoint = wanted.endpoint;
      target.text = net::endpoint_text(wanted.endpoint.address(), wanted.endpoint.port());
      target.key = wanted.key.empty() ? nullptr : find_key(next->keys, wanted.key);
      // A target that stays keeps what it has in flight (its answers still count).
      for (auto& old : targets)
        if (old.endpoint == wanted.endpoint && same_key(old.key, target.key)) {
          target.in_flight = std::move(old.in_flight);
          target.in_flight_by_zone = std::move(old.in_flight_by_zone);
        }
      target.stats = stats_for(target.text);
      next_targets.push_back(std::move(target));
    }
    targets = std::move(next_targets);
    config = std::move(next);
    tokens.configure(config->settings.rate);
    ++generation;
    rebuild_deadlines();
    publish_targets();
    open_sockets();
  }

  std::shared_ptr<TargetStats> stats_for(const std::string& text) {
    std::lock_guard lock(stats_mutex);
    auto& stats = stats_by_target[text];
    if (!stats) stats = std::make_shared<TargetStats>();
    return stats;
  }

  // The scrape shows the configured targets only.
  void publish_targets() {
    std::lock_guard lock(stats_mutex);
    std::map<std::string, std::shared_ptr<TargetStats>> current;
    for (auto& target : targets) {
      current[target.text] = target.stats;
      target.stats->in_flight.store(target.in_flight.size(), std::memory_order_relaxed);
    }
    stats_by_target = std::move(current);
  }

  void rebuild_deadlines() {
    deadlines = {};
    const auto now = SteadyClock::now();
    for (size_t i = 0; i < targets.size(); ++i)
      for (const auto& [id, transaction] : targets[i].in_flight)
        deadlines.push({now + retry_wait(transaction.tries), generation, i, id, transaction.sequence});
  }

  void open_sockets() {
    for (const auto& target : targets) {
      auto& socket = target.endpoint.address().is_v4() ? socket_v4 : socket_v6;
      if (socket) continue;
      const auto protocol = target.endpoint.address().is_v4() ? udp::v4() : udp::v6();
      socket.emplace(io);
      boost::system::error_code error;
      socket->open(protocol, error);
      if (!error) socket->bind(udp::endpoint(protocol, 0), error);
      if (!error) socket->non_blocking(true, error);
      if (error) {
        log::error("transfer: cannot open a UDP socket for NOTIFY to " + target.text + ": " + error.message());
        socket.reset();
        continue;
      }
      receive(*socket, target.endpoint.address().is_v4() ? receive_buffer_v4 : receive_buffer_v6,
              target.endpoint.address().is_v4() ? sender_v4 : sender_v6);
    }
  }

  void receive(udp::socket& socket, std::array<uint8_t, 65535>& buffer, udp::endpoint& sender) {
    socket.async_receive_from(asio::buffer(buffer), sender,
                              [this, &socket, &buffer, &sender](boost::system::error_code error, size_t size) {
                                if (error == asio::error::operation_aborted) return;
                                if (!error) {
                                  handle_answer({buffer.data(), size}, sender);
                                  pump();
                                }
                                receive(socket, buffer, sender);
                              });
  }

  std::chrono::milliseconds retry_wait(unsigned tries) const {
    // RFC 1996 §3.6: retry after an interval that grows with each try.
    const unsigned doublings = tries == 0 ? 0 : std::min(tries - 1, 20u);
    return config->settings.retry_interval * (int64_t{1} << doublings);
  }

  // Retries what is due and gives up what tried `retries` times. True when a retry waits
  // for a token (retries go before new zones).
  bool process_deadlines(SteadyClock::time_point now) {
    while (!deadlines.empty() && deadlines.top().at <= now) {
      const Deadline due = deadlines.top();
      Transaction* transaction = find_current(due);
      if (!transaction) {
        deadlines.pop();
        continue;
      }
      Target& target = targets[due.target];
      if (transaction->tries > config->settings.retries) {
        deadlines.pop();
        finish(target, due.id, Failure::Timeout);
        continue;
      }
      if (!tokens.ready()) return true;
      deadlines.pop();
      target.stats->retried.fetch_add(1, std::memory_order_relaxed);
      send_try(due.target, due.id, *transaction, now);
    }
    return false;
  }

  Transaction* find_current(const Deadline& due) {
    if (due.generation != generation) return nullptr;
    auto& in_flight = targets[due.target].in_flight;
    auto it = in_flight.find(due.id);
    if (it == in_flight.end() || it->second.sequence != due.sequence) return nullptr;
    return &it->second;
  }

  // Sends queued zones while tokens last; true when zones still wait.
  bool dispatch_zones() {
    while (tokens.ready()) {
      std::optional<QueuedZone> zone;
      {
        std::lock_guard lock(mutex);
        zone = queue.pop();
      }
      if (!zone) return false;
      for (size_t i = 0; i < targets.size(); ++i) start_transaction(i, *zone);
    }
    std::lock_guard lock(mutex);
    return !queue.empty();
  }

  void start_transaction(size_t index, const QueuedZone& zone) {
    Target& target = targets[index];
    const std::string key = zone_key(zone.apex);
    // A newer serial replaces a pending NOTIFY of the same zone: its answer no longer
    // tells anything about the newest change.
    if (auto it = target.in_flight_by_zone.find(key); it != target.in_flight_by_zone.end()) {
      target.in_flight.erase(it->second);
      target.in_flight_by_zone.erase(it);
    }
    if (target.in_flight.size() >= kMaxInFlightPerTarget) {
      dropped_in_flight.fetch_add(1, std::memory_order_relaxed);
      warnings.report("transfer: " + std::to_string(kMaxInFlightPerTarget) + " NOTIFYs to " + target.text +
                      " await an answer; dropped the one for " + zone.apex.to_text());
      return;
    }
    const uint16_t id = unused_id(target);
    Transaction& transaction = target.in_flight[id];
    transaction.apex = zone.apex;
    transaction.serial = zone.serial;
    transaction.message = build_notify(id, zone.apex);
    target.in_flight_by_zone[key] = id;
    target.stats->in_flight.store(target.in_flight.size(), std::memory_order_relaxed);
    send_try(index, id, transaction, SteadyClock::now());
  }

  uint16_t unused_id(const Target& target) {
    // At most kMaxInFlightPerTarget of 65536 IDs are taken: a few draws suffice.
    for (;;) {
      const auto id = static_cast<uint16_t>(random());
      if (!target.in_flight.contains(id)) return id;
    }
  }

  void send_try(size_t index, uint16_t id, Transaction& transaction, SteadyClock::time_point now) {
    Target& target = targets[index];
    tokens.spend();
    ++transaction.tries;
    transaction.sequence = ++sends;
    std::vector<uint8_t> signed_copy;
    std::span<const uint8_t> bytes = transaction.message;
    if (target.key) {
      signed_copy = transaction.message;
      transaction.signatures.push_back(dns::tsig::sign_request(signed_copy, *target.key, wall_seconds()));
      bytes = signed_copy;
    }
    auto& socket = target.endpoint.address().is_v4() ? socket_v4 : socket_v6;
    boost::system::error_code error;
    if (socket) socket->send_to(asio::buffer(bytes.data(), bytes.size()), target.endpoint, 0, error);
    // A failed send counts as a try: the retry schedule covers it like a lost datagram.
    if (!socket || error)
      warnings.report("transfer: NOTIFY to " + target.text +
                      " not sent: " + (socket ? error.message() : std::string("no socket")));
    target.stats->sent.fetch_add(1, std::memory_order_relaxed);
    deadlines.push({now + retry_wait(transaction.tries), generation, index, id, transaction.sequence});
  }

  void handle_answer(std::span<const uint8_t> packet, const udp::endpoint& sender) {
    const auto id = message_id(packet);
    if (!id) return;
    for (auto& target : targets) {
      if (target.endpoint != sender) continue;
      auto it = target.in_flight.find(*id);
      if (it == target.in_flight.end()) return;
      Transaction& transaction = it->second;
      const auto answer = read_notify_answer(packet, transaction.apex);
      if (!answer) return;  // not an answer to this NOTIFY: keep waiting
      if (target.key && !verifies(packet, *target.key, transaction))
        return finish(target, *id, Failure::Tsig, answer->rcode);
      if (answer->rcode == dns::tsig::kNotAuth && target.key) return finish(target, *id, Failure::Tsig, answer->rcode);
      // NOTAUTH, REFUSED, NOTIMP...: the secondary will not act on it; trying again
      // would get the same answer.
      if (answer->rcode != 0) return finish(target, *id, Failure::Rcode, answer->rcode);
      return finish(target, *id, std::nullopt);
    }
  }

  static bool verifies(std::span<const uint8_t> packet, const dns::tsig::Key& key, const Transaction& transaction) {
    const int64_t now = wall_seconds();
    for (const auto& signature : transaction.signatures)
      if (dns::tsig::verify_response(packet, key, signature, now) == dns::tsig::Error::None) return true;
    return false;
  }

  void finish(Target& target, uint16_t id, std::optional<Failure> failure, uint16_t rcode = 0) {
    auto it = target.in_flight.find(id);
    if (it == target.in_flight.end()) return;
    if (!failure) {
      target.stats->answered.fetch_add(1, std::memory_order_relaxed);
    } else {
      target.stats->failed[static_cast<size_t>(*failure)].fetch_add(1, std::memory_order_relaxed);
      warnings.report("transfer: NOTIFY of " + it->second.apex.to_text() + " serial " +
                      std::to_string(it->second.serial) + " to " + target.text +
                      " failed: " + failure_words(*failure, it->second.tries, rcode));
    }
    target.in_flight_by_zone.erase(zone_key(it->second.apex));
    target.in_flight.erase(it);
    target.stats->in_flight.store(target.in_flight.size(), std::memory_order_relaxed);
  }

  static std::string failure_words(Failure failure, unsigned tries, uint16_t rcode) {
    switch (failure) {
      case Failure::Timeout:
        return "no answer to " + std::to_string(tries) + " tries";
      case Failure::Rcode:
        return "answered " + (rcode == dns::tsig::kNotAuth
                                  ? std::string("NOTAUTH")
                                  : std::string(dns::rcode_to_string(static_cast<dns::Rcode>(rcode))));
      case Failure::Tsig:
        // Knot answers NOTAUTH, unsigned, for a zone it does not serve yet (a catalog
        // member it has not added): say so rather than blame the signature.
        if (rcode == dns::tsig::kNotAuth)
          return "answered NOTAUTH (the secondary does not serve this zone yet, or refused the key)";
        return "the answer's TSIG does not verify";
    }
    return "";
  }

  void arm_timer(SteadyClock::time_point now, bool waiting_for_tokens) {
    std::optional<SteadyClock::time_point> next;
    // An overdue deadline is a retry waiting for a token: the token's time decides.
    if (!deadlines.empty() && deadlines.top().at > now) next = deadlines.top().at;
    if (waiting_for_tokens) {
      const auto token_at = tokens.ready_at(now);
      next = next ? std::min(*next, token_at) : token_at;
    }
    if (!next) {
      timer.cancel();
      return;
    }
    timer.expires_at(std::max(*next, now));
    timer.async_wait([this](boost::system::error_code error) {
      if (!error) pump();
    });
  }

  // ---- metrics ------------------------------------------------------------------------
  void register_metrics() {
    metrics_registration = metrics::metrics_registry(env)->add(
        "transfer notify", [this](metrics::MetricsWriter& writer) { collect_metrics(writer); });
  }

  void collect_metrics(metrics::MetricsWriter& writer) {
    writer.declare("stsd_notify_sent_total", "NOTIFY messages sent (first tries and retries), by target.",
                   metrics::Type::Counter);
    writer.declare("stsd_notify_failed_total", "NOTIFYs given up, by target and reason (timeout, rcode, tsig).",
                   metrics::Type::Counter);
    {
      std::lock_guard lock(stats_mutex);
      for (const auto& [text, stats] : stats_by_target) {
        const auto value = [](const std::atomic<uint64_t>& counter) {
          return static_cast<double>(counter.load(std::memory_order_relaxed));
        };
        writer.counter("stsd_notify_sent_total", "NOTIFY messages sent (first tries and retries), by target.",
                       {{"target", text}}, value(stats->sent));
        writer.counter("stsd_notify_retried_total", "NOTIFY messages sent again after no answer, by target.",
                       {{"target", text}}, value(stats->retried));
        writer.counter("stsd_notify_answered_total", "NOTIFYs a target answered with NOERROR.", {{"target", text}},
                       value(stats->answered));
        for (size_t reason = 0; reason < std::size(kFailureNames); ++reason)
          writer.counter("stsd_notify_failed_total", "NOTIFYs given up, by target and reason (timeout, rcode, tsig).",
                         {{"target", text}, {"reason", kFailureNames[reason]}}, value(stats->failed[reason]));
        writer.gauge("stsd_notify_in_flight", "NOTIFYs awaiting an answer, by target.", {{"target", text}},
                     value(stats->in_flight));
      }
    }
    writer.counter("stsd_notify_dropped_total",
                   "Zones not announced: the queue was full, or too many NOTIFYs "
                   "awaited an answer from a target.",
                   {{"reason", "queue"}}, static_cast<double>(dropped_queue.load(std::memory_order_relaxed)));
    writer.counter("stsd_notify_dropped_total",
                   "Zones not announced: the queue was full, or too many NOTIFYs "
                   "awaited an answer from a target.",
                   {{"reason", "in_flight"}}, static_cast<double>(dropped_in_flight.load(std::memory_order_relaxed)));
    size_t queued = 0;
    {
      std::lock_guard lock(mutex);
      queued = queue.size();
    }
    writer.gauge("stsd_notify_queue_length", "Zones waiting to be announced.", {}, static_cast<double>(queued));
    collect_lag(writer);
  }

  void collect_lag(metrics::MetricsWriter& writer) {
    constexpr std::string_view kWorstHelp =
        "The worst delay seen between a zone change and a secondary holding it, in seconds.";
    constexpr std::string_view kLastHelp = "The last delay seen between a zone change and this secondary holding it.";
    if (const auto worst = transfer_lag->worst())
      writer.gauge("stsd_transfer_lag_seconds", kWorstHelp, {}, static_cast<double>(worst->count()));
    else
      writer.declare("stsd_transfer_lag_seconds", kWorstHelp, metrics::Type::Gauge);
    writer.declare("stsd_transfer_secondary_lag_seconds", kLastHelp, metrics::Type::Gauge);
    std::lock_guard lock(lag_mutex);
    for (const auto& [secondary, seconds] : lag.last_lag_by_secondary())
      writer.gauge("stsd_transfer_secondary_lag_seconds", kLastHelp, {{"secondary", secondary}},
                   static_cast<double>(seconds));
  }
};

Notifier::Notifier(NotifySettings settings, std::vector<dns::tsig::Key> keys, Environment& env)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(keys), env)) {}

Notifier::~Notifier() { impl_->stop(); }

void Notifier::start() { impl_->start(); }

void Notifier::reconfigure(NotifySettings settings, std::vector<dns::tsig::Key> keys) {
  impl_->reconfigure(std::move(settings), std::move(keys));
}

void Notifier::zone_changed(const dns::Name& apex, uint32_t serial, int64_t at) {
  impl_->zone_changed(apex, serial, at);
}

void Notifier::secondary_has(const boost::asio::ip::address& secondary, const dns::Name& apex, uint32_t serial,
                             int64_t at) {
  impl_->secondary_has(secondary, apex, serial, at);
}

}  // namespace stsd::transfer
