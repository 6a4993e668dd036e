#pragma once
// The process's view of every zone it hands to secondaries: a background thread
// compares the serials of every zone::Source every `poll`; for each zone whose serial
// moved it renders the zone, journals the difference (journal.h) and has the Notifier
// announce it (RFC 1996); zones that appear or go change the catalog zone (catalog.h).
//
// One per process (Environment::shared under kSharedKey), kept across reloads with its
// journal; a committed load hands it its settings (apply). Transfers read the journal
// and the catalog from any thread.
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "catalog.h"
#include "environment.h"
#include "journal.h"
#include "metrics.h"
#include "notifier.h"
#include "transfer_config.h"
#include "zone/source.h"

namespace stsd::store {
class PolicyStore;
}

namespace stsd::transfer {

// What the transfer side counts (exported as stsd_transfer_*; README.md, "Metrics").
struct TransferCounters {
  // How a transfer request was answered.
  enum Kind : size_t { Axfr, Ixfr, IxfrUdp, IxfrUdpTooLarge, UpToDate, kKinds };
  // Why one was refused.
  enum Refusal : size_t { Acl, Tsig, AxfrOverUdp, kRefusals };
  std::array<std::atomic<uint64_t>, kKinds> transfers{};
  std::array<std::atomic<uint64_t>, kRefusals> refused{};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> bytes{0};
};

class Tracker {
 public:
  static constexpr const char* kSharedKey = "transfer.tracker";

  // The process's tracker, made (not started) on first use.
  static std::shared_ptr<Tracker> of(Environment& env);

  explicit Tracker(Environment& env);
  ~Tracker();  // stops the thread
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  // A committed load's settings (`store` keeps the catalog's serial across restarts; may
  // be null).
  void apply(TrackerSettings settings, std::shared_ptr<store::PolicyStore> store);
  // Once the whole load committed (every plugin's zone::Source added): the first call
  // takes the first round on the caller's thread, so the journal holds every zone and the
  // catalog every member before a change can come, then starts the polling thread.
  void begin_polling();
  // One round on the caller's thread (the thread's, or a test's before apply).
  void poll_once();

  const Journal& journal() const { return journal_; }
  // The catalog now; null when none is configured.
  std::shared_ptr<const CatalogZone> catalog() const { return catalog_.load(std::memory_order_acquire); }
  TransferCounters& counters() { return counters_; }
  // Unix seconds as the store sees them (never back across restarts), else the clock.
  int64_t now() const;

  // `secondary` holds `serial` of `apex` (Notifier::secondary_has).
  void secondary_has(const boost::asio::ip::address& secondary, const dns::Name& apex, uint32_t serial);

 private:
  struct Listed {
    std::string key;  // lowercase wire apex
    uint32_t serial;
    size_t source;
  };
  void run();
  void refresh_zone(const zone::Source& source, const dns::Name& apex, bool announce);
  void refresh_catalog(const std::optional<dns::Name>& apex, bool members_changed);
  void zone_changed(const dns::Name& apex, uint32_t serial);
  void collect(metrics::MetricsWriter& writer) const;

  Environment& env_;
  const std::shared_ptr<zone::Sources> sources_;
  Journal journal_;
  TransferCounters counters_;
  std::atomic<std::shared_ptr<const CatalogZone>> catalog_;

  mutable std::mutex settings_mutex_;  // settings_, store_, notifier_
  TrackerSettings settings_;
  std::shared_ptr<store::PolicyStore> store_;
  std::unique_ptr<Notifier> notifier_;

  // The polling thread's own state.
  std::vector<zone::ZoneEntry> entries_;
  MemberKeys members_;                          // sorted, as the catalog lists them
  std::optional<dns::Name> catalog_apex_;       // the catalog the last round built
  std::optional<CatalogSerial> catalog_serial_;
  bool first_round_ = true;

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  metrics::MetricsRegistry::Registration metrics_;
};

}  // namespace stsd::transfer
